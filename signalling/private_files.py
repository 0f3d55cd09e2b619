"""Files only the platform's own account may read: the database and the signing key.

Both are created mode 0600 (the SQLite file before SQLite first opens it:
its journal, WAL and shared-memory files take the database file's mode), and
a directory the platform creates for them is 0700. One found readable or
writable by others, from an older version or a careless copy, is tightened
to 0600 with a warning: the operator should know that it was exposed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) if absent; the ones created are 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)


def tighten(path: Path) -> None:
    """Make an existing file 0600 if group or others may use it, and say so."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        os.chmod(path, PRIVATE_FILE)
    except OSError as exc:  # another owner's file: go on, but loudly
        log.warning(
            "%s is readable by others (mode %o) and cannot be tightened: %s",
            path,
            mode,
            exc.strerror,
            extra={"path": str(path), "mode": f"{mode:o}"},
        )
        return
    log.warning(
        "%s was readable by others (mode %o); now 0600",
        path,
        mode,
        extra={"path": str(path), "mode": f"{mode:o}"},
    )


def private_file(path: Path) -> None:
    """Ensure `path` exists as a file only its owner may use (created empty if absent)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(path)
        return
    os.close(fd)
