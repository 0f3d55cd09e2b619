"""A real pynetdicom SCU talks to the Storage SCP over 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from pydicom.dataset import FileDataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    RTPlanStorage,
    TwelveLeadECGWaveformStorage,
    UltrasoundMultiFrameImageStorage,
    Verification,
)

from dicom_viewer.index import ImagingIndex
from dicom_viewer.scp import Origin, StorageSCP, StorageSCPConfig
from dicom_viewer.storage import MemoryBlobStore
from dicom_viewer.validate import Accepted, Refused, load_dataset

Reader = Callable[[str], FileDataset]


class CaseFile:
    """What the control plane does with an accepted object: store and index."""

    def __init__(self) -> None:
        self.store = MemoryBlobStore()
        self.index = ImagingIndex()
        self.origins: list[Origin] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def accept(self, accepted: Accepted, origin: Origin) -> None:
        with self._lock:
            blob = self.store.put_bytes(accepted.data)
            self.index.add(accepted.info, blob.sha256, len(accepted.data))
            self.origins.append(origin)

    def refuse(self, refused: Refused, origin: Origin) -> None:
        with self._lock:
            self.refused.append(refused.reason)


@pytest.fixture
def case_file() -> CaseFile:
    return CaseFile()


@pytest.fixture
def scp(case_file: CaseFile) -> Iterator[StorageSCP]:
    config = StorageSCPConfig(ae_title="TELEHEALTH", port=0)
    with StorageSCP(config, case_file.accept, case_file.refuse) as server:
        yield server


def _scu(*contexts: tuple[str, list[str] | None]) -> AE:
    ae = AE(ae_title="MODALITY")
    for sop_class, syntaxes in contexts:
        if syntaxes is None:
            ae.add_requested_context(sop_class)
        else:
            ae.add_requested_context(sop_class, syntaxes)
    return ae


def test_c_echo(scp: StorageSCP) -> None:
    host, port = scp.address
    assoc = _scu((Verification, None)).associate(host, port, ae_title="TELEHEALTH")
    assert assoc.is_established
    try:
        status = assoc.send_c_echo()
        assert status.Status == 0x0000
    finally:
        assoc.release()


def test_wrong_called_ae_title_is_rejected(scp: StorageSCP) -> None:
    host, port = scp.address
    assoc = _scu((Verification, None)).associate(host, port, ae_title="SOMEONE_ELSE")
    assert assoc.is_rejected


def test_c_store_lands_in_the_case_file(
    scp: StorageSCP, case_file: CaseFile, read_testdata: Reader
) -> None:
    ct = read_testdata("CT_small.dcm")
    cine = read_testdata("examples_ybr_color.dcm")
    ecg = read_testdata("waveform_ecg.dcm")
    host, port = scp.address
    ae = _scu(
        (CTImageStorage, None),
        (UltrasoundMultiFrameImageStorage, [cine.file_meta.TransferSyntaxUID]),
        (TwelveLeadECGWaveformStorage, None),
    )
    assoc = ae.associate(host, port, ae_title="TELEHEALTH")
    assert assoc.is_established
    try:
        for ds in (ct, cine, ecg):
            status = assoc.send_c_store(ds)
            assert status.Status == 0x0000, ds.SOPClassUID
    finally:
        assoc.release()
    assert len(case_file.index) == 3
    assert {o.calling_ae_title for o in case_file.origins} == {"MODALITY"}
    record = case_file.index.instance(ct.SOPInstanceUID)
    assert record is not None
    kept = load_dataset(case_file.store.read_bytes(record.blob_sha256))
    assert kept.PixelData == ct.PixelData
    cine_record = case_file.index.instance(cine.SOPInstanceUID)
    assert cine_record is not None and cine_record.info.frames == 30
    assert cine_record.info.is_jpeg_baseline  # kept as sent, not transcoded


def test_invalid_object_gets_a_failure_status_with_the_reason(
    scp: StorageSCP, case_file: CaseFile, read_testdata: Reader
) -> None:
    ds = read_testdata("CT_small.dcm")
    ds.Rows = 4096
    ds.Columns = 4096
    ds.NumberOfFrames = 100_000
    host, port = scp.address
    assoc = _scu((CTImageStorage, None)).associate(host, port, ae_title="TELEHEALTH")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status.Status == 0xC000
    assert "100000 frames" in status.ErrorComment
    assert len(case_file.index) == 0
    assert case_file.refused and "100000 frames" in case_file.refused[0]


def test_unsupported_sop_class_is_not_negotiated(scp: StorageSCP, read_testdata: Reader) -> None:
    host, port = scp.address
    assoc = _scu((RTPlanStorage, None), (Verification, None)).associate(
        host, port, ae_title="TELEHEALTH"
    )
    assert assoc.is_established
    try:
        with pytest.raises(ValueError, match="presentation context"):
            assoc.send_c_store(read_testdata("rtplan.dcm"))
    finally:
        assoc.release()
