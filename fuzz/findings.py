"""Naming a finding, and the findings already known (reported, owned elsewhere).

A finding is named by its exception type and the innermost frame of this
project's code it went through (else the innermost frame at all), so that
one defect hit by many inputs counts once among the distinct findings.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_PROJECT_PACKAGES = ("media_server", "signalling", "dicom_viewer", "recordings")


class Fallback(Exception):
    """Raised by a target when the code under test turned a third-party
    library's exception into a refusal through a catch-all: handled, so not
    a crash, but counted and named so that the report lists them."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def signature(exc: BaseException) -> str:
    """e.g. ``IndexError at media_server/sdp_guard.py:_msid``."""
    frames = traceback.extract_tb(exc.__traceback__)
    chosen = None
    for frame in frames:
        path = Path(frame.filename).resolve()
        if path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in _PROJECT_PACKAGES:
            chosen = (str(path.relative_to(ROOT)), frame.name)
    if chosen is None and frames:
        last = frames[-1]
        chosen = (_short(last.filename), last.name)
    where = f"{chosen[0]}:{chosen[1]}" if chosen else "?"
    return f"{type(exc).__name__} at {where}"


def in_project(exc: BaseException) -> bool:
    """Whether the innermost frame of the traceback is this project's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    path = Path(frames[-1].filename).resolve()
    return path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in _PROJECT_PACKAGES


def _short(filename: str) -> str:
    parts = Path(filename).parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1 :])
    return filename


@dataclass(frozen=True)
class KnownFinding:
    target: str
    signature: str
    what: str
    """The defect, its owner and what to do; the report names each."""


# Findings in modules other helpers own: reported with reproducer and
# traceback, and tolerated here only so that `make test` does not fail on a
# defect someone else fixes. Remove an entry once its fix is in: the short
# run then proves it (a tolerated finding that no longer occurs is fine).
KNOWN_FINDINGS: tuple[KnownFinding, ...] = ()


def known(target: str, sig: str) -> KnownFinding | None:
    for finding in KNOWN_FINDINGS:
        if finding.target == target and finding.signature == sig:
            return finding
    return None
