"""The token signing key: given in the settings, or generated once into the data dir."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from signalling.private_files import private_dir, tighten
from signalling.settings import Settings

KEY_FILE = "signing.key"


def load_signing_key(settings: Settings) -> bytes:
    """Return the HMAC key for tokens, creating ``data_dir/signing.key`` on first use.

    The key is written whole to a private temporary file and then hard-linked
    into place, which fails if the name exists: processes starting together
    on one data dir agree on a single key, and none reads a half-written one.
    A key file found readable by others is made 0600, with a warning.
    """
    if settings.signing_key is not None:
        return settings.signing_key.get_secret_value().encode()
    path: Path = settings.data_dir / KEY_FILE
    if not path.exists():
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won; use its key
        finally:
            os.unlink(tmp)
    tighten(path)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 characters")
    return key.encode()
