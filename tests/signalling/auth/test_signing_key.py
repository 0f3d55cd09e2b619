"""The token signing key: generated once into the data dir, private, and shared by processes."""

from __future__ import annotations

import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from signalling.auth.signing_key import KEY_FILE, load_signing_key
from signalling.settings import load_settings


def test_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    with ThreadPoolExecutor(8) as pool:  # processes starting together agree on one key
        keys = set(pool.map(lambda _: load_signing_key(settings), range(8)))
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 32
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key(load_settings(None, data_dir=tmp_path)) == key
    other = load_signing_key(load_settings(None, data_dir=tmp_path / "elsewhere"))
    assert other != key  # never a built-in default


def test_configured_key_wins_and_bad_file_is_refused(tmp_path: Path) -> None:
    given = "k" * 40
    assert load_signing_key(load_settings(None, data_dir=tmp_path, signing_key=given)) == (
        given.encode()
    )
    assert not (tmp_path / KEY_FILE).exists()
    (tmp_path / KEY_FILE).write_text("short\n")
    with pytest.raises(ValueError, match="shorter than 32"):
        load_signing_key(load_settings(None, data_dir=tmp_path))


def test_world_readable_key_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data")
    key = load_signing_key(settings)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700  # created by us
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="signalling.private_files"):
        assert load_signing_key(settings) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any("readable by others (mode 644)" in r.getMessage() for r in caplog.records)
