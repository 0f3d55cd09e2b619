"""Decide whether an uploaded file may be kept, before anything is stored.

Every check names what is wrong in words a clinician can act on. Files are
never force-read: ``force=True`` turns a gzip archive or a headerless file
into a garbage dataset. Exceptions alone miss the files pydicom reads
silently (truncated elements, empty datasets), so required attributes and
declared lengths are checked explicitly. Size caps apply to declared values
before any pixel is decoded.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace
from io import BytesIO
from os import PathLike
from pathlib import Path

from pydicom import dcmread, uid
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder

from . import cine
from .attributes import frame_attribute_source, get_float, get_floats, get_int, get_str, get_vector
from .codestream import frame_size, has_size_header
from .deflate_guard import InflateProblem, file_meta_end, inflate_bounded, is_deflated
from .element_scan import ScanProblem, scan_elements
from .instance import InstanceInfo, Kind
from .limits import IngestLimits
from .render import decode_frame
from .sop_classes import ACCEPTED_SOP_CLASSES, Family, sop_class_name
from .structure import (
    ImageGeometry,
    encapsulated_pixel_problem,
    native_pixel_problem,
    raw_pixel_data,
    truncated_element,
    waveform_problem,
)

_PREAMBLE_LENGTH = 128
_GZIP_MAGIC = b"\x1f\x8b"
_SAMPLES_FOR_PHOTOMETRIC = {
    "MONOCHROME1": 1,
    "MONOCHROME2": 1,
    "PALETTE COLOR": 1,
    "RGB": 3,
    "YBR_FULL": 3,
    "YBR_FULL_422": 3,
    "YBR_ICT": 3,
    "YBR_RCT": 3,
}
_UID_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


@dataclass(frozen=True, slots=True)
class Accepted:
    """A file that may be stored: its bytes as received, and what it is."""

    info: InstanceInfo
    data: bytes
    dataset: Dataset


@dataclass(frozen=True, slots=True)
class Refused:
    """A file that must not be stored, with a reason to show the user."""

    reason: str


ValidationResult = Accepted | Refused


class _Refusal(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Source = bytes | str | PathLike[str]
logger = logging.getLogger(__name__)
# pydicom warns about every oddity of untrusted input (and logs it too, on
# the "pydicom" logger). Shown through the warnings machinery, each distinct
# text would stay in a registry for the life of the process, a slow leak an
# uploader controls; so they are ignored there, once, at import (never
# swapped per call, which is what is not thread-safe).
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")


def validate(source: Source, limits: IngestLimits | None = None) -> ValidationResult:
    """Check one uploaded object. Never raises for bad input.

    Safe to call from many threads at once, and takes no lock: damage that
    pydicom reports only as a warning (a file ending inside an element) is
    found by :func:`scan_elements` instead, so no process-wide warnings
    filter is swapped per call (``warnings.catch_warnings`` is not thread-
    safe, and the lock it needed made every upload wait for the slowest).
    """
    limits = limits or IngestLimits()
    try:
        data = _read_capped(source, limits)
        dataset = _parse(data, limits)
        info = _inspect(dataset, limits)
    except _Refusal as refusal:
        return Refused(refusal.reason)
    except Exception as exc:  # any other failure on untrusted input is a refusal too
        logger.warning("unexpected error while validating", exc_info=True)
        return Refused(f"the file could not be interpreted ({exc})")
    return Accepted(info=info, data=data, dataset=dataset)


def load_dataset(data: bytes) -> FileDataset:
    """Parse stored bytes that passed :func:`validate` (never forced)."""
    return dcmread(BytesIO(data), force=False)


def _read_capped(source: Source, limits: IngestLimits) -> bytes:
    if isinstance(source, bytes):
        size = len(source)
    else:
        source = Path(source)
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise _Refusal(f"the file could not be opened ({exc.strerror})") from exc
    if size > limits.max_file_bytes:
        raise _Refusal(f"the file is {size} bytes, over the {limits.max_file_bytes}-byte limit")
    if isinstance(source, bytes):
        return source
    try:
        return source.read_bytes()
    except OSError as exc:
        raise _Refusal(f"the file could not be read ({exc.strerror})") from exc


def _parse(data: bytes, limits: IngestLimits) -> FileDataset:
    if data[:2] == _GZIP_MAGIC:
        raise _Refusal("this is a gzip archive, not a DICOM file: unpack it first")
    if len(data) < _PREAMBLE_LENGTH + 4 or data[_PREAMBLE_LENGTH : _PREAMBLE_LENGTH + 4] != b"DICM":
        raise _Refusal("this is not a DICOM file (no 'DICM' marker after the 128-byte preamble)")
    _check_structure(data, limits)
    try:
        dataset = dcmread(BytesIO(data), force=False)
    except InvalidDicomError as exc:
        raise _Refusal(f"this is not a valid DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise _Refusal(f"the DICOM file could not be read ({exc})") from exc
    return dataset


def _check_structure(data: bytes, limits: IngestLimits) -> None:
    """Bound what pydicom will build, before it builds it: the inflated
    size of a deflated file, and the element count, nesting and integrity
    of the data set (see :mod:`.element_scan`)."""
    start, transfer_syntax = file_meta_end(data)
    if transfer_syntax is None:
        return  # refused by _inspect, with its own reason
    ts = uid.UID(transfer_syntax)
    if not ts.is_transfer_syntax:
        return  # likewise
    stream: bytes | bytearray = data
    if is_deflated(transfer_syntax):
        try:
            stream = inflate_bounded(data, start, limits.inflated_allowance(len(data)))
        except InflateProblem as exc:
            raise _Refusal(str(exc)) from exc
        start = 0
    try:
        scan_elements(
            stream,
            start,
            implicit_vr=ts.is_implicit_VR,
            little_endian=ts.is_little_endian,
            max_elements=limits.max_elements,
            max_items=limits.max_sequence_items,
            max_depth=limits.max_sequence_depth,
        )
    except ScanProblem as exc:
        raise _Refusal(str(exc)) from exc


def _inspect(ds: FileDataset, limits: IngestLimits) -> InstanceInfo:
    transfer_syntax = get_str(ds.file_meta, "TransferSyntaxUID")
    if transfer_syntax is None:
        raise _Refusal("the file header has no transfer syntax, so its content cannot be read")
    ts = uid.UID(transfer_syntax)
    if not ts.is_transfer_syntax:
        raise _Refusal(f"the transfer syntax {transfer_syntax} is not one this viewer knows")
    if len(ds) == 0:
        raise _Refusal("the file holds no data elements (it is empty or cut short)")
    truncated = truncated_element(ds)
    if truncated is not None:
        raise _Refusal(f"the file is truncated: {truncated} is shorter than its declared length")

    uids: dict[str, str] = {}
    for keyword in _UID_KEYWORDS:
        value = get_str(ds, keyword)
        if value is None:
            raise _Refusal(f"the required attribute {keyword} is missing")
        if not uid.UID(value).is_valid:
            raise _Refusal(f"{keyword} '{value[:70]}' is not a valid DICOM UID")
        uids[keyword] = value

    family = ACCEPTED_SOP_CLASSES.get(uids["SOPClassUID"])
    if family is None:
        raise _Refusal(
            f"{sop_class_name(uids['SOPClassUID'])} objects cannot be shown by the viewer"
        )

    common = InstanceInfo(
        kind=Kind.ECG,
        sop_class_uid=uids["SOPClassUID"],
        sop_class_name=sop_class_name(uids["SOPClassUID"]),
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=str(ts),
        modality=get_str(ds, "Modality"),
        patient_name=get_str(ds, "PatientName"),
        patient_id=get_str(ds, "PatientID"),
        patient_birth_date=get_str(ds, "PatientBirthDate"),
        patient_sex=_patient_sex(ds),
        patient_age=get_str(ds, "PatientAge"),
        institution_name=get_str(ds, "InstitutionName"),
        study_date=get_str(ds, "StudyDate"),
        study_time=get_str(ds, "StudyTime"),
        accession_number=get_str(ds, "AccessionNumber"),
        study_description=get_str(ds, "StudyDescription"),
        series_number=get_int(ds, "SeriesNumber"),
        series_description=get_str(ds, "SeriesDescription"),
        instance_number=get_int(ds, "InstanceNumber"),
    )

    if family is Family.ECG:
        problem = waveform_problem(ds, limits.max_waveform_samples)
        if problem is not None:
            raise _Refusal(problem)
        return common

    geometry, photometric = _image_geometry(ds, limits)
    _check_pixel_data(ds, ts, geometry)
    _check_frame_headers(ds, ts, geometry)
    if ts.is_encapsulated and limits.trial_decode:
        _trial_decode(ds, geometry.frames)
    frame_ds = _first_frame_attributes(ds)
    position = get_vector(frame_ds.plane_position, "ImagePositionPatient", 3)
    orientation = get_vector(frame_ds.plane_orientation, "ImageOrientationPatient", 6)
    spacing = get_vector(frame_ds.pixel_measures, "PixelSpacing", 2)
    rate = cine.frame_rate(ds)
    return replace(
        common,
        kind=_image_kind(family, geometry.frames, rate),
        image_position=_triple(position),
        image_orientation=_sextuple(orientation),
        pixel_spacing=_pair(spacing),
        slice_thickness=get_float(frame_ds.pixel_measures, "SliceThickness"),
        rows=geometry.rows,
        columns=geometry.columns,
        frames=geometry.frames,
        samples_per_pixel=geometry.samples_per_pixel,
        bits_allocated=geometry.bits_allocated,
        photometric=photometric,
        window_centers=get_floats(frame_ds.voi, "WindowCenter") or (),
        window_widths=get_floats(frame_ds.voi, "WindowWidth") or (),
        rescale_slope=get_float(frame_ds.rescale, "RescaleSlope"),
        rescale_intercept=get_float(frame_ds.rescale, "RescaleIntercept"),
        frame_time_ms=None if rate is None else 1000.0 / rate,
        frame_rate=rate,
        is_encapsulated=ts.is_encapsulated,
        is_jpeg_baseline=ts == uid.JPEGBaseline8Bit,
    )


def _patient_sex(ds: Dataset) -> str | None:
    """M, F or O (PS3.3 C.7.1.1); any other value is not an answer."""
    value = get_str(ds, "PatientSex")
    value = None if value is None else value.upper()
    return value if value in ("M", "F", "O") else None


def _pair(v: tuple[float, ...] | None) -> tuple[float, float] | None:
    return None if v is None else (v[0], v[1])


def _triple(v: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    return None if v is None else (v[0], v[1], v[2])


def _sextuple(
    v: tuple[float, ...] | None,
) -> tuple[float, float, float, float, float, float] | None:
    return None if v is None else (v[0], v[1], v[2], v[3], v[4], v[5])


def _image_kind(family: Family, frames: int, rate: float | None) -> Kind:
    if frames == 1:
        return Kind.IMAGE
    if family is Family.ULTRASOUND or rate is not None:
        return Kind.CINE
    return Kind.MULTIFRAME


def _required_int(ds: Dataset, keyword: str) -> int:
    if keyword not in ds:
        raise _Refusal(f"the required attribute {keyword} is missing")
    value = get_int(ds, keyword)
    if value is None:
        raise _Refusal(f"{keyword} '{ds[keyword].value}' is not a whole number")
    return value


def _image_geometry(ds: Dataset, limits: IngestLimits) -> tuple[ImageGeometry, str]:
    rows = _required_int(ds, "Rows")
    columns = _required_int(ds, "Columns")
    bits_allocated = _required_int(ds, "BitsAllocated")
    samples = _required_int(ds, "SamplesPerPixel")
    frames = _required_int(ds, "NumberOfFrames") if "NumberOfFrames" in ds else 1
    photometric = get_str(ds, "PhotometricInterpretation")
    if photometric is None:
        raise _Refusal("the required attribute PhotometricInterpretation is missing")
    if rows < 1 or columns < 1 or frames < 1:
        raise _Refusal(f"the image size {rows}x{columns} with {frames} frame(s) is empty")
    if bits_allocated not in (1, 8, 16, 32):
        raise _Refusal(f"BitsAllocated {bits_allocated} is not 1, 8, 16 or 32")
    bits_stored = get_int(ds, "BitsStored")
    if bits_stored is not None and not 1 <= bits_stored <= bits_allocated:
        raise _Refusal(f"BitsStored {bits_stored} does not fit in BitsAllocated {bits_allocated}")
    expected_samples = _SAMPLES_FOR_PHOTOMETRIC.get(photometric)
    if expected_samples is None:
        raise _Refusal(f"the photometric interpretation '{photometric}' is not supported")
    if samples != expected_samples:
        raise _Refusal(
            f"{photometric} images have {expected_samples} sample(s) per pixel, not {samples}"
        )
    if rows > limits.max_rows or columns > limits.max_columns:
        raise _Refusal(
            f"the image is {rows}x{columns}, over the {limits.max_rows}x{limits.max_columns} limit"
        )
    if frames > limits.max_frames:
        raise _Refusal(f"the file declares {frames} frames, over the {limits.max_frames} limit")
    geometry = ImageGeometry(rows, columns, frames, samples, bits_allocated)
    if geometry.decoded_bytes > limits.max_decoded_bytes:
        raise _Refusal(
            f"the images would take {geometry.decoded_bytes} bytes once decoded, over the "
            f"{limits.max_decoded_bytes}-byte limit"
        )
    return geometry, photometric


def _check_pixel_data(ds: Dataset, ts: uid.UID, geometry: ImageGeometry) -> None:
    for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            raise _Refusal("floating-point pixel data is not supported by the viewer")
    pixel_data = raw_pixel_data(ds)
    if pixel_data is None:
        raise _Refusal("the image has no pixel data")
    data, undefined_length = pixel_data
    if ts.is_encapsulated:
        if not undefined_length:
            raise _Refusal("compressed pixel data must be encapsulated (undefined length)")
        problem = encapsulated_pixel_problem(data, geometry.frames)
        if problem is None and not _decodable(ts):
            problem = f"no decoder is installed for {ts.name} images"
    else:
        problem = native_pixel_problem(data, geometry)
    if problem is not None:
        raise _Refusal(problem)


def _check_frame_headers(ds: Dataset, ts: uid.UID, geometry: ImageGeometry) -> None:
    """Every compressed frame must declare the image the file declares:
    decoders allocate what the frame's own header says (see codestream)."""
    if not has_size_header(ts):
        return
    pixel_data = raw_pixel_data(ds)
    assert pixel_data is not None  # checked by _check_pixel_data
    expected = (geometry.rows, geometry.columns, geometry.samples_per_pixel)
    frames = generate_frames(pixel_data[0], number_of_frames=geometry.frames)
    for number, frame in enumerate(frames, start=1):
        size = frame_size(ts, frame)
        if size is None:
            raise _Refusal(f"frame {number} does not begin with a {ts.name} header")
        if (size.rows, size.columns, size.components) != expected:
            raise _Refusal(
                f"frame {number} declares a {size.rows}x{size.columns} image with "
                f"{size.components} component(s); the file's attributes say "
                f"{expected[0]}x{expected[1]} with {expected[2]}"
            )


def _decodable(ts: uid.UID) -> bool:
    try:
        return bool(get_decoder(ts).is_available)
    except NotImplementedError:  # e.g. MPEG video: pydicom has no decoder at all
        return False


def _trial_decode(ds: Dataset, frames: int) -> None:
    """Decode the first and last frames: a compressed stream can be
    well-formed as items yet corrupt inside, which only decoding shows."""
    for frame in sorted({0, frames - 1}):
        try:
            decode_frame(ds, frame)
        except Exception as exc:  # decoders raise many types on corrupt data
            raise _Refusal(
                f"frame {frame + 1} of the compressed image could not be decoded ({exc})"
            ) from exc


@dataclass(frozen=True, slots=True)
class _FrameSources:
    """Where frame 0's geometry and display attributes live: functional
    group items for enhanced objects, the dataset itself otherwise."""

    plane_position: Dataset
    plane_orientation: Dataset
    pixel_measures: Dataset
    voi: Dataset
    rescale: Dataset


def _first_frame_attributes(ds: Dataset) -> _FrameSources:
    return _FrameSources(
        plane_position=frame_attribute_source(
            ds, 0, "PlanePositionSequence", "ImagePositionPatient"
        ),
        plane_orientation=frame_attribute_source(
            ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient"
        ),
        pixel_measures=frame_attribute_source(ds, 0, "PixelMeasuresSequence", "PixelSpacing"),
        voi=frame_attribute_source(ds, 0, "FrameVOILUTSequence", "WindowCenter"),
        rescale=frame_attribute_source(ds, 0, "PixelValueTransformationSequence", "RescaleSlope"),
    )


__all__ = ["Accepted", "Refused", "Source", "ValidationResult", "load_dataset", "validate"]
