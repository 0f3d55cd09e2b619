"""Ingest into a blob store and index; slice ordering over real series."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_files
from pydicom.dataset import FileDataset

from dicom_viewer.index import ImagingIndex
from dicom_viewer.ingest import Stored, ingest, ingest_batch
from dicom_viewer.instance import InstanceInfo
from dicom_viewer.ordering import order_slices
from dicom_viewer.storage import MemoryBlobStore
from dicom_viewer.validate import Accepted, Refused, validate

Paths = Callable[[str], Path]
Reader = Callable[[str], FileDataset]
Encoder = Callable[[FileDataset], bytes]


def _infos(paths: list[Path]) -> list[InstanceInfo]:
    results = [validate(p) for p in paths]
    assert all(isinstance(r, Accepted) for r in results)
    return [r.info for r in results if isinstance(r, Accepted)]


def test_ct5n_is_ordered_along_the_slice_normal(ct5n: list[Path]) -> None:
    infos = _infos(ct5n)
    for shuffled in (infos, infos[::-1], infos[2:] + infos[:2]):
        ordered = order_slices(shuffled)
        z = [info.image_position[2] for info in ordered if info.image_position]
        gaps = [a - b for a, b in itertools.pairwise(z)]
        # axial slices, head first, 2.5 mm apart
        assert gaps == pytest.approx([2.5] * 4)
        assert [dcmread(p).SOPInstanceUID for p in sorted(ct5n, key=lambda p: p.name)] == [
            info.sop_instance_uid for info in ordered
        ]


def test_without_geometry_instance_number_orders_the_series() -> None:
    paths = [Path(p) for p in get_testdata_files("dicomdirtests/77654033/CT2/*")]
    infos = [replace(info, image_position=None) for info in _infos(paths)]
    numbers = [info.instance_number for info in order_slices(infos[::-1])]
    assert numbers == sorted(n for n in numbers if n is not None)
    assert len(numbers) == 4


def test_batch_keeps_good_files_and_refuses_bad_ones(testdata: Paths, ct5n: list[Path]) -> None:
    store = MemoryBlobStore()
    index = ImagingIndex()
    bad = ["no_meta.dcm", "zipMR.gz", "rtplan_truncated.dcm", "MR_truncated.dcm"]
    sources = [testdata(n) for n in bad[:2]] + ct5n + [testdata(n) for n in bad[2:]]
    results = ingest_batch(sources, store, index)
    assert [isinstance(r, Refused) for r in results] == [True] * 2 + [False] * 5 + [True] * 2
    assert len(store) == 5 and len(index) == 5
    stored = [r for r in results if isinstance(r, Stored)]
    for result, path in zip(stored, ct5n, strict=True):
        data = path.read_bytes()
        assert result.record.blob_sha256 == hashlib.sha256(data).hexdigest()
        assert store.read_bytes(result.record.blob_sha256) == data
    (study,) = index.studies.values()
    (series,) = study.series.values()
    assert series.modality == "CT"
    assert [r.info.instance_number for r in series.ordered()] == sorted(
        r.info.instance_number or 0 for r in series.instances.values()
    )
    middle = series.representative()
    assert middle is not None and middle == series.ordered()[2]


def test_same_uid_again_replaces_and_contradictions_are_refused(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    store = MemoryBlobStore()
    index = ImagingIndex()
    ds = read_testdata("CT_small.dcm")
    first = ingest(to_bytes(ds), store, index)
    assert isinstance(first, Stored) and not first.replaced
    ds.InstanceNumber = 7
    again = ingest(to_bytes(ds), store, index)
    assert isinstance(again, Stored) and again.replaced
    record = index.instance(ds.SOPInstanceUID)
    assert record is not None and record.info.instance_number == 7
    ds.StudyInstanceUID = "1.2.3.4"
    conflict = ingest(to_bytes(ds), store, index)
    assert isinstance(conflict, Refused)
    assert "belongs to another study" in conflict.reason
    assert len(store) == 2  # the contradicting object was not stored


def test_study_record_carries_the_first_instance_identity(testdata: Paths) -> None:
    result = validate(testdata("waveform_ecg.dcm"))
    assert isinstance(result, Accepted)
    index = ImagingIndex()
    index.add(result.info, "0" * 64, len(result.data))
    study = index.studies[result.info.study_instance_uid]
    assert (study.patient_name, study.patient_id) == ("Anonymous", "642341")
    assert study.patient_birth_date == "19710123"
    assert study.patient_sex == "F"
    assert study.patient_age == "042Y"
    assert study.institution_name == "E. O. Ospedali Galliera"
    assert study.study_time == "105919"
    assert study.accession_number == "03028041970546"
    # a later instance of the same study does not rewrite it
    later = replace(result.info, sop_instance_uid=result.info.sop_instance_uid + ".1",
                    institution_name="ELSEWHERE", patient_sex="M")  # fmt: skip
    index.add(later, "1" * 64, 1)
    assert study.institution_name == "E. O. Ospedali Galliera"
    assert study.patient_sex == "F"
