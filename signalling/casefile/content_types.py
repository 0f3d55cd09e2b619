"""What an uploaded file really is, from its bytes, never from its name.

Attachments a clinician can open safely: PDF, the common image formats and
plain UTF-8 text (lab results are often that). A name whose extension says
one thing while the content is another is refused: that is either a
mistake the uploader should see or an attempt to smuggle something in.
"""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import unquote

import puremagic

ALLOWED = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/webp": (".webp",),
    "image/gif": (".gif",),
    "text/plain": (".txt", ".csv", ".log", ""),
}
EXTENSIONS = {ext: media for media, exts in ALLOWED.items() for ext in exts if ext}


class RefusedContent(ValueError):
    pass


def safe_filename(name: str) -> str:
    """A label for the file: no directories, no control characters, not empty.

    Percent-escapes are undone first: some clients (aiohttp's among them)
    send "a%20b.pdf" for "a b.pdf", and an escaped "/" must not survive.
    """
    name = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().strip(".")[:200]
    return name or "attachment"


def sniff(head: bytes) -> str:
    """The media type of a file from its first bytes (at least 8 KiB when there are)."""
    try:
        kind = str(puremagic.from_string(head, mime=True))
    except puremagic.PureError:
        kind = ""
    if kind in ALLOWED:
        return kind
    if kind == "" and _is_text(head):
        return "text/plain"
    raise RefusedContent(
        f"files of this kind ({kind or 'unknown content'}) cannot be attached; "
        "use PDF, PNG, JPEG, WebP, GIF or plain text (DICOM goes to Imaging)"
    )


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 4:
            return False
    return True


def check_name_matches(filename: str, media_type: str) -> None:
    ext = os.path.splitext(filename)[1].lower()
    claimed = EXTENSIONS.get(ext)
    if ext and claimed is None:
        raise RefusedContent(f"the extension {ext} is not one that can be attached")
    if claimed is not None and claimed != media_type:
        raise RefusedContent(f"the file's content is {media_type}, not what its name ({ext}) says")
