"""The SQLite database and the signing key are private files on a real data directory."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from signalling.auth.signing_key import KEY_FILE
from signalling.db.engine import create_engine
from signalling.platform import open_platform
from signalling.private_files import private_file
from signalling.settings import load_settings
from tests.signalling.conftest import make_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask (022), under which files are world-readable unless made private."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_database_wal_and_key_are_created_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_platform(settings, migrate=True) as platform:
        async with platform.db() as db:
            await db.execute(text("SELECT count(*) FROM audit_events"))
        data = settings.data_dir
        assert mode(data / "telehealth.db") == 0o600
        wal = data / "telehealth.db-wal"
        assert wal.exists() and mode(wal) == 0o600  # SQLite follows the database file
        assert mode(data / KEY_FILE) == 0o600


async def test_world_readable_database_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    async with open_platform(settings, migrate=True):
        pass
    db_file = settings.data_dir / "telehealth.db"
    os.chmod(db_file, 0o644)
    with caplog.at_level(logging.WARNING, logger="signalling.private_files"):
        async with open_platform(settings, migrate=True):
            pass
    assert mode(db_file) == 0o600
    assert any(
        "readable by others (mode 644)" in r.getMessage() and str(db_file) in r.getMessage()
        for r in caplog.records
    )


async def test_engine_alone_makes_the_file_and_its_directory_private(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "telehealth.db"
    engine = create_engine(f"sqlite+aiosqlite:///{target}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await engine.dispose()
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700 and mode(target.parent.parent) == 0o700


def test_private_file_leaves_a_private_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "f"
    private_file(path)
    assert path.exists() and mode(path) == 0o600
    path.write_text("kept")
    private_file(path)
    assert path.read_text() == "kept"


def test_migrate_creates_a_private_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    result = subprocess.run(
        [sys.executable, "-m", "signalling", "migrate", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700
    assert mode(data / "telehealth.db") == 0o600


async def test_the_data_dir_is_private_and_blobs_are_kept_from_others(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path / "fresh")
    async with open_platform(settings, migrate=True) as platform:
        ref = platform.blobs.put_bytes(b"a DICOM object")
        stored = platform.blobs.path_for(ref.sha256)
        assert mode(settings.data_dir) == 0o700
        for directory in (platform.blobs.objects_dir, platform.blobs.tmp_dir, stored.parent):
            assert mode(directory) & 0o007 == 0, directory
        assert mode(stored) == 0o640
