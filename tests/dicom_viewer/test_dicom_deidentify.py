"""De-identification of a real CT series and an ultrasound loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import FileDataset

from dicom_viewer.deidentify import Deidentifier
from dicom_viewer.validate import Accepted, load_dataset, validate

Paths = Callable[[str], Path]


def test_series_is_deidentified_and_stays_grouped(ct5n: list[Path]) -> None:
    deidentifier = Deidentifier(seed="case-42")
    originals = [dcmread(p) for p in ct5n]
    # the originals do carry what must go, so the checks below can fail
    assert all(o.PatientName and o.SeriesDescription for o in originals)
    assert all(any(e.tag.is_private for e in o) for o in originals)
    outputs = [deidentifier.deidentify(p.read_bytes()) for p in ct5n]
    datasets = [load_dataset(o.data) for o in outputs]
    for original, output, ds in zip(originals, outputs, datasets, strict=True):
        result = validate(output.data)
        assert isinstance(result, Accepted)  # still a viewable object
        for keyword in ("PatientName", "PatientID"):
            old = str(original.get(keyword, ""))
            if old:
                assert str(ds.get(keyword, "")) != old
                assert old.encode() not in output.data
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            old_uid = str(original[keyword].value)
            assert str(ds[keyword].value) != old_uid
            assert old_uid.encode() not in output.data
        assert output.sop_instance_uid == ds.SOPInstanceUID
        assert ds.PixelData == original.PixelData
        assert "StudyDescription" not in ds and "SeriesDescription" not in ds
        assert not any(element.tag.is_private for element in ds)
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        assert "113100" in codes
    # one study, one series, five distinct instances after de-identification
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == 5


def test_free_text_and_institution_are_gone(
    read_testdata: Callable[[str], FileDataset], to_bytes: Callable[[FileDataset], bytes]
) -> None:
    ds = read_testdata("CT_small.dcm")
    ds.BurnedInAnnotation = "NO"
    output = Deidentifier().deidentify(to_bytes(ds))
    for text in (b"CompressedSamples", b"JFK IMAGING CENTER", b"1CT1"):
        assert text in to_bytes(ds)
        assert text not in output.data
    assert not output.pixels_may_identify
    assert load_dataset(output.data).PatientIdentityRemoved == "YES"


def test_burned_in_annotation_is_reported(testdata: Paths) -> None:
    data = testdata("examples_ybr_color.dcm").read_bytes()
    output = Deidentifier().deidentify(data)
    ds = load_dataset(output.data)
    assert output.pixels_may_identify
    assert ds.PatientIdentityRemoved == "NO"
