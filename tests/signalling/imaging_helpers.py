"""Shared pieces of the imaging tests: a consultation on a served app, real
DICOM files from pydicom's test data, and multipart uploads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from signalling.platform import Platform
from tests.signalling.care_network import Member
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_manager import consult_served

CT5N = "dicomdirtests/98892001/CT5N/*"


def dicom_file(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.fail(f"test file {name} is not installed locally")
    return Path(str(found))


def of_patient(path: Path, identifier: str, name: str, sex: str) -> bytes:
    """The file's bytes, its object relabelled as the case's patient (the
    identity check holds objects of anyone else)."""
    ds = dcmread(path)
    ds.PatientID, ds.PatientName, ds.PatientSex = identifier, name, sex
    return dataset_bytes(ds)


def dataset_bytes(ds: Dataset) -> bytes:
    """The dataset as a DICOM file's bytes."""
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def c_store(port: int, datasets: list[Dataset], *, ae_title: str) -> list[int]:
    """Each dataset sent by C-STORE, as the modality ``ae_title``, to the platform's
    receiver on ``port``: the statuses it answered."""
    ae = AE(ae_title=ae_title)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="TELEHEALTH")
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def ct5n() -> list[Path]:
    paths = sorted(Path(p) for p in get_testdata_files(CT5N))
    assert len(paths) == 5
    return paths


async def upload(who: Member, consultation_id: str, files: list[tuple[str, bytes]]) -> Any:
    form = aiohttp.FormData()
    for name, data in files:
        form.add_field("files", data, filename=name, content_type="application/dicom")
    async with who.http.post(
        f"{who.base_url.rstrip('/')}/api/consultations/{consultation_id}/imaging", data=form
    ) as response:
        return response.status, await response.json()


async def upload_one(who: Member, consult_id: str, path: Path) -> dict[str, Any]:
    """The file at ``path`` uploaded and accepted: its result (sop_uid, series_uid, ...)."""
    data = await asyncio.to_thread(path.read_bytes)
    status, body = await upload(who, consult_id, [(path.name, data)])
    assert status == 200 and body["accepted"] == 1, body
    return dict(body["results"][0])


async def get(who: Member, path: str, **kw: Any) -> tuple[int, bytes, Any]:
    async with who.http.get(who.base_url.rstrip("/") + path, **kw) as response:
        return response.status, await response.read(), response.headers


async def served_consult(
    tmp_path: Path, database_url: str | None, *, with_patient: bool = False, **settings: Any
) -> AsyncIterator[Any]:
    """(platform, app, consult) with both clinicians logged in (and, with
    ``with_patient``, the case file's patient Lò Văn Páo, male, ID 079123)."""
    config = make_settings(tmp_path, database_url=database_url, **settings)
    async with consult_served(config, with_patient=with_patient) as (app, consult):
        yield consult.platform, app, consult


async def audit_rows(platform: Platform, action: str) -> list[Any]:
    from sqlalchemy import select

    from signalling.db.models import AuditEvent

    async with platform.db() as db:
        return list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
