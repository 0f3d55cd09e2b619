"""Validation over the real good and bad files listed in TESTDATA.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_dicom import (
    deflate_bomb,
    j2k_declaring,
    jpeg_frame_declaring,
    many_items,
    nested_sequences,
)
from pydicom import uid
from pydicom.dataset import FileDataset
from pydicom.encaps import encapsulate, get_frame

from dicom_viewer.deflate_guard import file_meta_end
from dicom_viewer.element_scan import scan_elements
from dicom_viewer.instance import InstanceInfo, Kind
from dicom_viewer.limits import IngestLimits
from dicom_viewer.validate import Accepted, Refused, validate

# file -> a fragment the refusal reason must contain
BAD_FILES = {
    "no_meta.dcm": "not a DICOM file",
    "rtstruct.dcm": "not a DICOM file",
    "OT-PAL-8-face.dcm": "not a DICOM file",
    "zipMR.gz": "gzip",
    "MR_truncated.dcm": "truncated",
    "badVR.dcm": "RT Dose Storage",
    "meta_missing_tsyntax.dcm": "no transfer syntax",
    "rtplan_truncated.dcm": "truncated",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "truncated",
}

GOOD_FILES = {
    "CT_small.dcm": Kind.IMAGE,
    "693_UNCR.dcm": Kind.IMAGE,
    "693_J2KR.dcm": Kind.IMAGE,
    "693_J2KI.dcm": Kind.IMAGE,
    "eCT_Supplemental.dcm": Kind.MULTIFRAME,
    "examples_ybr_color.dcm": Kind.CINE,
    "color3d_jpeg_baseline.dcm": Kind.CINE,
    "OBXXXX1A_rle_2frame.dcm": Kind.CINE,
    "waveform_ecg.dcm": Kind.ECG,
    "RG1_UNCR.dcm": Kind.IMAGE,
    "CR1/6154": Kind.IMAGE,
    "mlut_18.dcm": Kind.IMAGE,
    "vlut_04.dcm": Kind.IMAGE,
    "JPEG-LL.dcm": Kind.IMAGE,
    "SC_rgb_jpeg_gdcm.dcm": Kind.IMAGE,
    "JPGExtended.dcm": Kind.IMAGE,
    "MR_small_jpeg_ls_lossless.dcm": Kind.IMAGE,
    "MR_small_RLE.dcm": Kind.IMAGE,
    "image_dfl.dcm": Kind.IMAGE,
}


Paths = Callable[[str], Path]
Reader = Callable[[str], FileDataset]
Encoder = Callable[[FileDataset], bytes]


def test_batch_refuses_each_bad_file_and_keeps_the_good_one(testdata: Paths) -> None:
    batch = [*BAD_FILES, "CT_small.dcm"]
    results = {name: validate(testdata(name)) for name in batch}
    good = results.pop("CT_small.dcm")
    assert isinstance(good, Accepted)
    for name, result in results.items():
        assert isinstance(result, Refused), name
        assert BAD_FILES[name] in result.reason, (name, result.reason)


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_good_files_are_accepted_as_their_kind(testdata: Paths, name: str) -> None:
    result = validate(testdata(name))
    assert isinstance(result, Accepted), getattr(result, "reason", None)
    assert result.info.kind is GOOD_FILES[name]
    assert result.data == testdata(name).read_bytes()


def test_bytes_and_path_give_the_same_answer(testdata: Paths) -> None:
    path = testdata("MR_small.dcm")
    from_path = validate(path)
    from_bytes = validate(path.read_bytes())
    assert isinstance(from_path, Accepted) and isinstance(from_bytes, Accepted)
    assert from_path.info == from_bytes.info


def test_ct_series_attributes_are_parsed(ct5n: list[Path]) -> None:
    infos = [validate(p) for p in ct5n]
    assert all(isinstance(i, Accepted) for i in infos)
    info = next(i.info for i in infos if isinstance(i, Accepted) and i.info.instance_number == 9)
    assert info.modality == "CT"
    assert info.sop_class_uid == uid.CTImageStorage
    assert info.rows == info.columns == 16
    assert info.window_centers == (40.0,) and info.window_widths == (400.0,)
    assert info.rescale_slope == 1.0 and info.rescale_intercept == -1024.0
    assert info.image_position == pytest.approx((-72.199997, -143.0, 1.2625))
    assert info.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert info.pixel_spacing == pytest.approx((0.488281, 0.488281))
    assert info.slice_thickness == 2.5


def test_enhanced_ct_reads_geometry_from_functional_groups(testdata: Paths) -> None:
    result = validate(testdata("eCT_Supplemental.dcm"))
    assert isinstance(result, Accepted)
    assert result.info.frames == 2
    assert result.info.image_position is not None
    assert result.info.pixel_spacing is not None
    assert result.info.window_centers


def test_malformed_number_of_frames_is_refused_for_an_accepted_class(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    # badVR.dcm is refused for its SOP class first; make it a CT to reach
    # the NumberOfFrames "1A" check itself
    ds = read_testdata("badVR.dcm")
    ds.SOPClassUID = uid.CTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = uid.CTImageStorage
    result = validate(to_bytes(ds))
    assert isinstance(result, Refused)
    assert "NumberOfFrames '1A' is not a whole number" in result.reason


def test_pixel_data_shorter_than_its_image_is_refused(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    ds = read_testdata("CT_small.dcm")
    ds.Rows = 129  # one row more than the stored pixels
    result = validate(to_bytes(ds))
    assert isinstance(result, Refused)
    assert "need 33024" in result.reason


@pytest.mark.parametrize("missing", ["StudyInstanceUID", "SOPInstanceUID", "Rows"])
def test_missing_required_attribute_is_named(
    read_testdata: Reader, to_bytes: Encoder, missing: str
) -> None:
    ds = read_testdata("CT_small.dcm")
    del ds[missing]
    result = validate(to_bytes(ds))
    assert isinstance(result, Refused)
    assert missing in result.reason


def _huge_declaration(read_testdata: Reader, to_bytes: Encoder) -> bytes:
    # a small file that declares 100,000 frames of 4096x4096
    ds = read_testdata("CT_small.dcm")
    ds.Rows = 4096
    ds.Columns = 4096
    ds.NumberOfFrames = 100_000
    return to_bytes(ds)


def test_huge_declared_size_is_refused_without_allocating(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    data = _huge_declaration(read_testdata, to_bytes)
    assert len(data) < 100_000
    tracemalloc.start()
    try:
        result = validate(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, Refused)
    assert "100000 frames" in result.reason
    # decoding would need 3.3 TB; the check itself stays tiny
    assert peak < 5_000_000


def test_decoded_size_cap_applies_when_each_dimension_is_allowed(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    data = _huge_declaration(read_testdata, to_bytes)
    limits = IngestLimits(max_frames=1_000_000)
    result = validate(data, limits)
    assert isinstance(result, Refused)
    assert "once decoded" in result.reason


def test_file_size_cap_is_checked_before_reading(testdata: Paths, tmp_path: Path) -> None:
    path = testdata("CT_small.dcm")
    result = validate(path, IngestLimits(max_file_bytes=1000))
    assert isinstance(result, Refused)
    assert "over the 1000-byte limit" in result.reason
    missing = validate(tmp_path / "absent.dcm")
    assert isinstance(missing, Refused)


def test_deflate_bomb_is_refused_within_its_allowance() -> None:
    data = deflate_bomb(500 << 20)  # ~0.5 MB that inflates to 500 MB
    assert len(data) < 1_000_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = validate(data, IngestLimits(max_file_bytes=512 << 20))  # the platform's cap
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, Refused)
    # 20 x 0.5 MB is under the 16 MiB below which the ratio is not applied
    assert result.reason == "the deflated file would inflate to over 16777216 bytes"
    assert peak < 40 << 20  # the allowance and one step, never the 500 MB
    assert seconds < 5  # a guard only: ~0.05 s here


def test_deflate_bomb_costs_little_memory_in_a_fresh_process() -> None:
    helper = Path(__file__).with_name("hostile_dicom.py")
    run = subprocess.run(
        [sys.executable, str(helper), str(500 << 20)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    measured = json.loads(run.stdout)
    assert measured["refused"] is not None and "would inflate" in measured["refused"]
    assert measured["rss_growth_kib"] < 100 * 1024
    assert measured["seconds"] < 5


def test_inflated_size_is_capped_by_ratio_and_absolute_bound(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    ten_mb = deflate_bomb(10 << 20)  # ~1000:1, but only 10 MB: harmless
    assert isinstance(validate(ten_mb), Accepted)
    no_exemption = IngestLimits(inflate_ratio_exempt_bytes=0)
    by_ratio = validate(ten_mb, no_exemption)
    assert isinstance(by_ratio, Refused)
    assert f"over {len(ten_mb) * 20} bytes" in by_ratio.reason
    absolute = validate(ten_mb, IngestLimits(max_inflated_bytes=5 << 20))
    assert isinstance(absolute, Refused) and f"over {5 << 20} bytes" in absolute.reason
    # pydicom's own deflated image inflates 57:1 from 4.6 KB
    image = to_bytes(read_testdata("image_dfl.dcm"))
    assert isinstance(validate(image), Accepted)
    assert isinstance(validate(image, no_exemption), Refused)
    assert isinstance(validate(image, replace(no_exemption, max_inflate_ratio=100)), Accepted)


def test_a_deflated_stream_cut_short_is_refused(read_testdata: Reader, to_bytes: Encoder) -> None:
    data = to_bytes(read_testdata("image_dfl.dcm"))
    result = validate(data[: len(data) - 100])
    assert isinstance(result, Refused)
    assert "truncated" in result.reason


def test_too_many_sequence_items_are_refused_before_pydicom_builds_them() -> None:
    data = many_items(5_000_000)  # 40 MB of empty items: ~3.5 GB and minutes in pydicom
    started = time.perf_counter()
    result = validate(data)
    seconds = time.perf_counter() - started
    assert isinstance(result, Refused)
    assert result.reason == "the file holds over 65536 sequence items, the limit"
    assert seconds < 5  # ~0.05 s
    assert isinstance(validate(many_items(1_000)), Accepted)


def test_deeply_nested_sequences_are_refused() -> None:
    result = validate(nested_sequences(10_000))
    assert isinstance(result, Refused)
    assert result.reason == "sequences are nested over 32 deep, the limit"
    assert isinstance(validate(nested_sequences(8)), Accepted)


def test_an_element_cut_inside_a_sequence_item_is_refused(testdata: Paths) -> None:
    # this DICOMDIR's last item declares 248 bytes with 224 left: pydicom
    # reads it without a word
    path = testdata("dicomdirtests/DICOMDIR-nooffset")
    result = validate(path)
    assert isinstance(result, Refused)
    assert "an item of DirectoryRecordSequence is shorter than its declared length" in (
        result.reason
    )


def test_a_fragment_that_spells_the_delimiter_does_not_end_pixel_data(testdata: Paths) -> None:
    # a file made for this: a fragment's bytes hold FFFE,E0DD. (Its JPEG
    # 2000 stream declares a 1024x3722445056 image, so validate refuses it
    # for that; the walk alone must find the pixel data's true end.)
    data = testdata("JPEG2000-embedded-sequence-delimiter.dcm").read_bytes()
    start, transfer_syntax = file_meta_end(data)
    assert transfer_syntax == uid.JPEG2000
    scanned = scan_elements(
        data, start, implicit_vr=False, little_endian=True, max_elements=1000, max_items=1000,
        max_depth=4,
    )  # fmt: skip
    # taking the first delimiter pattern as the end, the walk went on inside
    # the fragment and read garbage as elements
    assert scanned.elements > 0


def test_a_compressed_frame_declaring_a_huge_image_is_refused_before_decoding() -> None:
    data = j2k_declaring(20_000, 20_000)  # before: 3.5 s and 1.5 GB in openjpeg
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = validate(data)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, Refused)
    assert result.reason == (
        "frame 1 declares a 20000x20000 image with 1 component(s); "
        "the file's attributes say 512x512 with 1"
    )
    assert seconds < 5 and peak < 50 << 20


def test_every_frame_header_is_checked_not_only_the_decoded_ones() -> None:
    # the trial decode reads frames 1 and 30; frame 15 is only ever decoded
    # when a viewer plays the loop
    result = validate(jpeg_frame_declaring(14, 4800, 6400))
    assert isinstance(result, Refused)
    assert result.reason.startswith("frame 15 declares a 4800x6400 image with 3 component(s)")


def test_validations_run_side_by_side_without_a_shared_lock(testdata: Paths) -> None:
    slow_data = many_items(60_000)  # a real ~1 s of pydicom work
    fast_path = testdata("CT_small.dcm")
    started = time.perf_counter()
    assert isinstance(validate(slow_data), Accepted)
    slow_alone = time.perf_counter() - started
    results: list[object] = []
    slow = threading.Thread(target=lambda: results.append(validate(slow_data)))
    slow.start()
    time.sleep(min(0.1, slow_alone / 5))  # the slow one is well under way
    started = time.perf_counter()
    fast = validate(fast_path)
    fast_seconds = time.perf_counter() - started
    still_running = slow.is_alive()
    slow.join()
    assert isinstance(fast, Accepted) and isinstance(results[0], Accepted)
    # with a process-wide lock the fast one waited for the slow one to end
    assert still_running
    assert fast_seconds < slow_alone / 2


def test_corrupt_compressed_stream_is_refused(read_testdata: Reader, to_bytes: Encoder) -> None:
    ds = read_testdata("MR_small_jpeg_ls_lossless.dcm")
    stream = get_frame(ds.PixelData, 0, number_of_frames=1)
    # well-formed items around a JPEG-LS stream cut to its first 200 bytes
    ds.PixelData = encapsulate([stream[:200]])
    result = validate(to_bytes(ds))
    assert isinstance(result, Refused)
    assert "could not be decoded" in result.reason
    # without the trial decode the item structure alone looks fine
    unchecked = validate(to_bytes(ds), IngestLimits(trial_decode=False))
    assert isinstance(unchecked, Accepted)


def test_instance_info_serialises_to_json(testdata: Paths) -> None:
    result = validate(testdata("MR_small.dcm"))
    assert isinstance(result, Accepted)
    decoded = json.loads(json.dumps(result.info.to_json()))
    assert decoded["kind"] == "image"
    assert decoded["window_centers"] == [600.0]
    assert decoded["sop_instance_uid"] == result.info.sop_instance_uid


def test_transfer_syntax_without_a_decoder_is_refused(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    ds = read_testdata("examples_ybr_color.dcm")
    ds.file_meta.TransferSyntaxUID = uid.MPEG4HP41  # same items, but a video syntax
    result = validate(to_bytes(ds))
    assert isinstance(result, Refused)
    assert "no decoder is installed" in result.reason


def test_patient_identity_is_read_for_images_and_ecgs(testdata: Paths) -> None:
    ct = validate(testdata("CT_small.dcm"))
    assert isinstance(ct, Accepted)
    assert (ct.info.patient_name, ct.info.patient_id) == ("CompressedSamples^CT1", "1CT1")
    assert ct.info.patient_sex == "O"
    assert ct.info.patient_age == "000Y"
    assert ct.info.institution_name == "JFK IMAGING CENTER"
    assert ct.info.study_time == "072730"
    # present but empty in the file: not an answer
    assert ct.info.patient_birth_date is None
    assert ct.info.accession_number is None
    ecg = validate(testdata("waveform_ecg.dcm"))
    assert isinstance(ecg, Accepted)
    assert ecg.info.patient_birth_date == "19710123"
    assert ecg.info.patient_sex == "F"
    assert ecg.info.patient_age == "042Y"
    assert ecg.info.institution_name == "E. O. Ospedali Galliera"
    assert ecg.info.study_time == "105919"
    assert ecg.info.accession_number == "03028041970546"


def test_patient_sex_outside_m_f_o_reads_as_unknown(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    ds = read_testdata("CT_small.dcm")
    ds.PatientSex = "X"
    result = validate(to_bytes(ds))
    assert isinstance(result, Accepted)
    assert result.info.patient_sex is None
    ds.PatientSex = "f"
    lower = validate(to_bytes(ds))
    assert isinstance(lower, Accepted) and lower.info.patient_sex == "F"


def test_rows_stored_before_the_identity_fields_still_load(testdata: Paths) -> None:
    result = validate(testdata("CT_small.dcm"))
    assert isinstance(result, Accepted)
    old_row = result.info.to_json()
    for key in (
        "patient_birth_date",
        "patient_sex",
        "patient_age",
        "institution_name",
        "study_time",
        "accession_number",
    ):
        del old_row[key]
    loaded = InstanceInfo.from_json(json.loads(json.dumps(old_row)))
    assert loaded.patient_sex is None and loaded.institution_name is None
    assert loaded.sop_instance_uid == result.info.sop_instance_uid
    assert InstanceInfo.from_json(json.loads(json.dumps(result.info.to_json()))) == result.info


@pytest.mark.parametrize("interpretation", ["MB", "AB", "SB"])
def test_companded_or_mismatched_waveform_samples_are_refused(
    read_testdata: Reader, to_bytes: Encoder, interpretation: str
) -> None:
    ds = read_testdata("waveform_ecg.dcm")  # 16-bit SS samples
    ds.WaveformSequence[0].WaveformSampleInterpretation = interpretation
    result = validate(to_bytes(ds))
    assert isinstance(result, Refused)
    assert f"interpretation {interpretation}" in result.reason
