"""DICOMweb with the real dicomweb-client: store, search, retrieve; access
follows the consultation; every access audited with the Study Instance UID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dicomweb_client import DICOMwebClient
from pydicom import dcmread
from requests import HTTPError

from signalling.db.models import ImagingInstance
from signalling.platform import Platform
from tests.signalling.care_network import member
from tests.signalling.imaging_helpers import audit_rows, ct5n, dicom_file, served_consult
from tests.signalling.rooms.test_manager import Consult


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Platform, Consult]]:
    async for platform, _, consult in served_consult(tmp_path, database_url):
        yield platform, consult


def _client(base: str, token: str) -> DICOMwebClient:
    return DICOMwebClient(url=base, headers={"Authorization": f"Bearer {token}"})


async def test_dicomweb_client_stores_searches_and_retrieves(
    served: tuple[Platform, Consult],
) -> None:
    platform, consult = served
    root = f"{consult.url}dicomweb/consultations/{consult.id}"
    client = _client(root, consult.doc.token)
    datasets = [dcmread(p) for p in ct5n()]
    study_uid = str(datasets[0].StudyInstanceUID)

    answer = await asyncio.to_thread(client.store_instances, datasets)
    stored = {str(item.ReferencedSOPInstanceUID) for item in answer.ReferencedSOPSequence}
    assert stored == {str(ds.SOPInstanceUID) for ds in datasets}
    assert "FailedSOPSequence" not in answer

    # the specialist, through the same consultation's service root
    reader = _client(root, consult.spec.token)
    studies = await asyncio.to_thread(reader.search_for_studies)
    assert [s["0020000D"]["Value"][0] for s in studies] == [study_uid]
    name = str(datasets[0].PatientName)
    found = await asyncio.to_thread(
        reader.search_for_studies, search_filters={"PatientName": name[:3] + "*"}
    )
    assert len(found) == 1
    none = await asyncio.to_thread(
        reader.search_for_studies, search_filters={"PatientName": "NOBODY*"}
    )
    assert none == []
    series = await asyncio.to_thread(reader.search_for_series, study_uid)
    assert series[0]["00080060"]["Value"] == ["CT"]
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = await asyncio.to_thread(reader.search_for_instances, study_uid, series_uid)
    assert len(instances) == 5

    wanted = datasets[2]
    sop = str(wanted.SOPInstanceUID)
    got = await asyncio.to_thread(reader.retrieve_instance, study_uid, series_uid, sop)
    assert got.SOPInstanceUID == sop
    assert got.PixelData == wanted.PixelData
    whole = await asyncio.to_thread(reader.retrieve_study, study_uid)
    assert {str(ds.SOPInstanceUID) for ds in whole} == stored
    metadata = await asyncio.to_thread(reader.retrieve_study_metadata, study_uid)
    assert len(metadata) == 5 and "7FE00010" not in metadata[0]
    assert metadata[0]["00280010"]["Value"] == [int(wanted.Rows)]
    frames = await asyncio.to_thread(
        reader.retrieve_instance_frames, study_uid, series_uid, sop, [1]
    )
    assert frames[0] == wanted.PixelData
    png = await asyncio.to_thread(
        reader.retrieve_instance_rendered, study_uid, series_uid, sop, media_types=("image/png",)
    )
    assert png.startswith(b"\x89PNG")

    # the global root sees it too (participants' studies), audited every time
    everywhere = _client(f"{consult.url}dicomweb", consult.spec.token)
    assert len(await asyncio.to_thread(everywhere.search_for_studies)) == 1
    for action in ("imaging.store", "imaging.search", "imaging.retrieve"):
        rows = await audit_rows(platform, action)
        assert rows and {r.object_id for r in rows} == {study_uid}, action


async def test_strangers_see_nothing(served: tuple[Platform, Consult]) -> None:
    platform, consult = served
    root = f"{consult.url}dicomweb/consultations/{consult.id}"
    ds = dcmread(ct5n()[0])
    await asyncio.to_thread(_client(root, consult.doc.token).store_instances, [ds])
    outsider = await member(platform, consult.url, "hue.cardio")
    try:
        stranger = _client(root, outsider.token)
        with pytest.raises(HTTPError) as refused:
            await asyncio.to_thread(stranger.search_for_studies)
        assert refused.value.response.status_code == 404
        anywhere = _client(f"{consult.url}dicomweb", outsider.token)
        assert await asyncio.to_thread(anywhere.search_for_studies) == []
        with pytest.raises(HTTPError) as refused:
            await asyncio.to_thread(anywhere.retrieve_study, str(ds.StudyInstanceUID))
        assert refused.value.response.status_code == 404
        with pytest.raises(HTTPError) as refused:
            await asyncio.to_thread(stranger.store_instances, [ds])
        assert refused.value.response.status_code == 404
    finally:
        await outsider.close()
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{root}/studies") as response:
            assert response.status == 401


async def _stow(who: Any, url: str, parts: list[bytes]) -> tuple[int, Any]:
    writer = aiohttp.MultipartWriter("related", boundary="b0undary")
    writer.headers["Content-Type"] = (
        'multipart/related; type="application/dicom"; boundary=b0undary'
    )
    for data in parts:
        writer.append(data, {"Content-Type": "application/dicom"})
    async with who.http.post(url, data=writer) as response:
        return response.status, json.loads(await response.read() or b"null")


async def test_stow_to_the_global_root_names_its_consultation(
    served: tuple[Platform, Consult],
) -> None:
    _, consult = served
    good = ct5n()[0].read_bytes()
    bad = dicom_file("no_meta.dcm").read_bytes()
    status, body = await _stow(consult.doc, f"{consult.url}dicomweb/studies", [good])
    assert status == 400 and "consultation" in body["error"]
    url = f"{consult.url}dicomweb/studies?consultation={consult.id}"
    status, body = await _stow(consult.doc, url, [good, bad])
    assert status == 202  # some stored, some failed
    assert len(body["00081199"]["Value"]) == 1
    failed = body["00081198"]["Value"][0]
    assert failed["00081197"]["Value"] == [0xC000] and failed["0040A160"]["Value"][0]
    status, body = await _stow(consult.doc, url, [bad])
    assert status == 409 and "00081199" not in body
    status, listing = await consult.spec.call("GET", f"/api/consultations/{consult.id}/imaging")
    assert status == 200 and len(listing["studies"]) == 1


async def test_concurrent_stows_of_one_study_all_land(served: tuple[Platform, Consult]) -> None:
    """Several senders of one new study at once: every instance is kept, the
    study is linked once. Before the fix this raced into a 500 in about half
    of the runs (it depends on the requests meeting at the link)."""
    platform, consult = served
    url = f"{consult.url}dicomweb/consultations/{consult.id}/studies"
    slices = [p.read_bytes() for p in ct5n()]
    # each sender opens its own connection, so the requests overlap on the server
    senders = [await member(platform, consult.url, "mc.doc", online=False) for _ in range(3)]
    try:
        # the same work in each request, so they reach the case file together
        answers = await asyncio.gather(*(_stow(who, url, slices) for who in senders))
    finally:
        for who in senders:
            await who.close()
    assert [status for status, _ in answers] == [200] * 3, answers
    status, listing = await consult.spec.call("GET", f"/api/consultations/{consult.id}/imaging")
    assert status == 200 and len(listing["studies"]) == 1
    assert len(listing["studies"][0]["series"][0]["instances"]) == 5


async def test_stow_to_another_studys_url_keeps_nothing(
    served: tuple[Platform, Consult],
) -> None:
    platform, consult = served
    path = ct5n()[0]
    url = f"{consult.url}dicomweb/consultations/{consult.id}/studies/1.2.3.4"
    status, body = await _stow(consult.doc, url, [path.read_bytes()])
    assert status == 409
    failed = body["00081198"]["Value"][0]
    assert failed["00081197"]["Value"] == [0xA900]
    assert failed["00081155"]["Value"] == [str(dcmread(path).SOPInstanceUID)]
    async with platform.db() as db:
        assert await db.get(ImagingInstance, str(dcmread(path).SOPInstanceUID)) is None
