"""RED for Opus (RFC 2198): audio that carries its previous packets again.

A browser publishes RED when the answer lists `red/48000/2` first, with
an fmtp naming Opus (`111/111`): each packet then holds the frame before
it (or two) as well as its own, so a subscriber's lost packet is rebuilt
from the next one without a retransmission's round trip. That is what
keeps speech whole on a lossy district link (LiveKit forwards RED by
default for the same reason). aiortc knows no RED; the SFU adds it to
the SDP here and forwards the packets as they come: to a subscriber that
accepted RED unchanged (its block payload types rewritten if its Opus
number differs), to one that did not (aiortc players, recorders) as the
primary Opus frame only.

A RED payload: a 4-byte header per redundant block (F=1, block payload
type, timestamp offset, length), a 1-byte header for the primary (F=0,
payload type), then the blocks' data in the same order, primary last.
"""

import re
from dataclasses import dataclass

from . import sdp_sections

RED_MIME = "audio/red"
# Chromium's numbers; the SFU offers them so that a browser's packets pass unchanged
RED_PAYLOAD_TYPE = 63
OPUS_PAYLOAD_TYPE = 111


class RedError(ValueError):
    """A RED payload that does not parse (truncated or lengths past its end)."""


@dataclass(frozen=True)
class RedFormat:
    """One audio section's RED: its payload type and that of the Opus inside."""

    payload_type: int
    opus_payload_type: int


def _blocks(payload: bytes) -> tuple[list[int], int]:
    """Offsets of the block headers' payload-type bytes, and where the data starts."""
    headers = []
    offset = 0
    while True:
        if offset >= len(payload):
            raise RedError("RED header runs past the payload")
        headers.append(offset)
        if not payload[offset] & 0x80:
            return headers, offset + 1
        offset += 4


def primary(payload: bytes) -> bytes:
    """The packet's own (last) block: what a subscriber without RED is sent."""
    headers, data = _blocks(payload)
    redundant = 0
    for offset in headers[:-1]:
        redundant += ((payload[offset + 2] & 0x03) << 8) | payload[offset + 3]
    start = data + redundant
    if start > len(payload):
        raise RedError("RED block lengths run past the payload")
    return payload[start:]


def with_block_type(payload: bytes, payload_type: int) -> bytes:
    """The payload with every block's payload type set to `payload_type` (the
    subscriber's number for Opus, where it differs from the publisher's)."""
    headers, _ = _blocks(payload)
    out = bytearray(payload)
    for offset in headers:
        out[offset] = (out[offset] & 0x80) | (payload_type & 0x7F)
    return bytes(out)


def _payload_types(section: str, name: str) -> list[int]:
    pattern = rf"^a=rtpmap:(\d+) {name}/48000/2\r?$"
    return [int(pt) for pt in re.findall(pattern, section, re.MULTILINE | re.IGNORECASE)]


def section_format(section: str) -> RedFormat | None:
    """The RED of an audio section, if it has one that carries its Opus."""
    if not section.startswith("m=audio ") or section.startswith("m=audio 0 "):
        return None
    opus = set(_payload_types(section, "opus"))
    for red in _payload_types(section, "red"):
        fmtp = re.search(rf"^a=fmtp:{red} (\d+)(?:/(\d+))*\r?$", section, re.MULTILINE)
        if fmtp is None:
            continue
        blocks = {int(pt) for pt in re.findall(r"\d+", fmtp.group(0).split(" ", 1)[1])}
        if len(blocks) == 1 and blocks <= opus:
            return RedFormat(red, blocks.pop())
    return None


def formats_by_mid(sdp: str) -> dict[str, RedFormat]:
    """RED per audio section of an SDP, by mid."""
    _, sections = sdp_sections.sections(sdp)
    found = {}
    for section in sections:
        mid = sdp_sections.mid(section)
        red = section_format(section)
        if mid is not None and red is not None:
            found[mid] = red
    return found


def offer_red(sdp: str) -> str:
    """`sdp` (the SFU's subscribe offer) with RED offered, first, in each audio
    section that offers Opus."""
    head, sections = sdp_sections.sections(sdp)
    out = []
    for section in sections:
        opus = _payload_types(section, "opus")
        if section_format(section) is None and opus and section.startswith("m=audio "):
            section = _add_red(section, opus[0])
        out.append(section)
    return sdp_sections.join(head, out)


def _add_red(section: str, opus: int) -> str:
    lines = section.split(sdp_sections.NEWLINE)
    used = {int(pt) for pt in lines[0].split()[3:] if pt.isdigit()}
    # Chromium's number if free, else another that RTCP demultiplexing allows
    candidates = (RED_PAYLOAD_TYPE, *range(62, 34, -1), *range(96, 128))
    red = next(pt for pt in candidates if pt not in used)
    m_line = lines[0].split(" ")
    lines[0] = " ".join([*m_line[:3], str(red), *m_line[3:]])
    index = next(i for i, line in enumerate(lines) if line.startswith(f"a=rtpmap:{opus} "))
    lines[index:index] = [f"a=rtpmap:{red} red/48000/2", f"a=fmtp:{red} {opus}/{opus}"]
    return sdp_sections.NEWLINE.join(lines)
