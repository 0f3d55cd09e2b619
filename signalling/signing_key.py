"""The token signing key: given in the settings, or generated once into the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .settings import Settings

KEY_FILE = "signing.key"


def load_signing_key(settings: Settings) -> bytes:
    """Return the HMAC key for tokens, creating ``data_dir/signing.key`` on first use.

    The file is created with O_EXCL and mode 0600, so two processes starting
    together on one data dir agree on a single key and nobody else can read it.
    """
    if settings.signing_key is not None:
        return settings.signing_key.get_secret_value().encode()
    path: Path = settings.data_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if len(key) < 32:
            raise ValueError(f"{path} holds a key shorter than 32 characters") from None
        return key.encode()
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key.encode()
