"""QIDO-RS matching over an index of real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread

from dicom_viewer.index import ImagingIndex, StudyRecord
from dicom_viewer.ingest import ingest_batch
from dicom_viewer.qido import (
    QueryError,
    instance_json,
    search_instances,
    search_series,
    search_studies,
    study_json,
)
from dicom_viewer.storage import MemoryBlobStore

Paths = Callable[[str], Path]


@pytest.fixture
def index(testdata: Paths, ct5n: list[Path]) -> ImagingIndex:
    index = ImagingIndex()
    names = ["MR_small.dcm", "CT_small.dcm", "waveform_ecg.dcm", "examples_ybr_color.dcm"]
    ingest_batch([*ct5n, *(testdata(n) for n in names)], MemoryBlobStore(), index)
    assert len(index) == 9
    return index


def _patients(studies: list[StudyRecord]) -> list[str]:
    return [s.patient_name or "" for s in studies]


def test_wildcards_and_case_on_person_names(index: ImagingIndex) -> None:
    found = search_studies(index, {"PatientName": "compressedsamples*"})
    assert sorted(_patients(found)) == ["CompressedSamples^CT1", "CompressedSamples^MR1"]
    assert _patients(search_studies(index, {"00100010": "Doe^P?ter"})) == ["Doe^Peter"]
    assert search_studies(index, {"PatientName": "Doe"}) == []


def test_date_ranges_uid_lists_and_modalities(index: ImagingIndex, ct5n: list[Path]) -> None:
    in_2004 = search_studies(index, {"StudyDate": "20040101-20041231"})
    assert sorted(s.study_date or "" for s in in_2004) == ["20040119", "20040826"]
    since_2013 = search_studies(index, {"StudyDate": "20130101-"})
    assert sorted(s.study_date or "" for s in since_2013) == ["20130125", "20160503"]
    ct5n_study = str(dcmread(ct5n[0]).StudyInstanceUID)
    listed = search_studies(index, {"StudyInstanceUID": f"1.2.3,{ct5n_study}"})
    assert [s.study_instance_uid for s in listed] == [ct5n_study]
    with_us = search_studies(index, {"ModalitiesInStudy": "US,ECG"})
    assert sorted(_patients(with_us)) == ["Anonymous", "PLA"]


def test_series_and_instances_in_order_with_paging(index: ImagingIndex, ct5n: list[Path]) -> None:
    ct_series = search_series(index, {"Modality": "CT"})
    assert len(ct_series) == 2
    study_uid = str(dcmread(ct5n[0]).StudyInstanceUID)
    instances = search_instances(index, {}, study_uid=study_uid)
    numbers = [record.info.instance_number for _, _, record in instances]
    assert len(numbers) == 5
    page = search_instances(index, {"limit": "2", "offset": "1"}, study_uid=study_uid)
    assert [r.info.instance_number for _, _, r in page] == numbers[1:3]
    only = search_instances(index, {"InstanceNumber": str(numbers[0])}, study_uid=study_uid)
    assert len(only) == 1


def test_bad_queries_are_refused(index: ImagingIndex) -> None:
    with pytest.raises(QueryError):
        search_studies(index, {"NoSuchKeyword": "x"})
    with pytest.raises(QueryError):
        search_studies(index, {"SOPInstanceUID": "1.2"})  # not a study-level key
    with pytest.raises(QueryError):
        search_studies(index, {"StudyDate": "2004-2005"})
    with pytest.raises(QueryError):
        search_studies(index, {"limit": "ten"})


def test_dicom_json_model(index: ImagingIndex) -> None:
    (study,) = search_studies(index, {"PatientID": "98890234"})
    body = study_json(study)
    assert body["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^Peter"}]}
    assert body["00080061"] == {"vr": "CS", "Value": ["CT"]}
    assert body["00201208"] == {"vr": "IS", "Value": [5]}
    (first, *_) = search_instances(index, {}, study_uid=study.study_instance_uid)
    instance = instance_json(*first)
    assert instance["00080018"]["Value"] == [first[2].info.sop_instance_uid]
    assert instance["00280010"] == {"vr": "US", "Value": [16]}
