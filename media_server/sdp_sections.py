"""An SDP as text, cut into its media sections, for the few lines aiortc
does not write (simulcast.py, red.py); aiortc parses and writes the rest."""

import re

NEWLINE = "\r\n"


def sections(sdp: str) -> tuple[str, list[str]]:
    """The session part, and each media section from its `m=` line."""
    head, *media = sdp.split(NEWLINE + "m=")
    return head, ["m=" + s for s in media]


def join(head: str, media: list[str]) -> str:
    return head + "".join(NEWLINE + s for s in media)


def mid(section: str) -> str | None:
    found = re.search(r"^a=mid:(\S+)\r?$", section, re.MULTILINE)
    return found.group(1) if found else None
