"""Structural checks that catch files pydicom reads without complaint.

pydicom reads lazily and leniently: an element cut short by the end of the
file keeps the bytes that were there (rtplan_truncated.dcm), and pixel data
shorter than its image only fails when decoded (MR_truncated.dcm). These
checks compare declared lengths with what is present, without decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments, parse_basic_offsets
from pydicom.tag import Tag

from .attributes import get_float, get_int, get_str

_UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA = Tag(0x7FE0, 0x0010)


@dataclass(frozen=True, slots=True)
class ImageGeometry:
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int

    @property
    def native_bytes(self) -> int:
        """Length of uncompressed pixel data (PS3.5 8.1.1), before padding."""
        bits = self.rows * self.columns * self.samples_per_pixel * self.frames * self.bits_allocated
        return (bits + 7) // 8

    @property
    def decoded_bytes(self) -> int:
        """Memory a full decode needs: at least one byte per sample."""
        per_sample = max(1, (self.bits_allocated + 7) // 8)
        return self.rows * self.columns * self.samples_per_pixel * self.frames * per_sample


def truncated_element(ds: Dataset) -> str | None:
    """Keyword or tag of the first element whose value is shorter than its
    declared length, searching nested sequences already parsed."""
    for tag in list(ds.keys()):
        element = ds.get_item(tag)
        if isinstance(element, RawDataElement):
            value = element.value
            if (
                element.length != _UNDEFINED_LENGTH
                and value is not None
                and len(value) < element.length
            ):
                return _name(element.tag)
        elif isinstance(element, DataElement) and element.VR == "SQ":
            for item in element.value:
                found = truncated_element(item)
                if found is not None:
                    return found
    return None


def _name(tag: int) -> str:
    return keyword_for_tag(tag) or str(Tag(tag))


def raw_pixel_data(ds: Dataset) -> tuple[bytes, bool] | None:
    """The Pixel Data value as stored and whether its length was undefined
    (encapsulated), or ``None`` if there is none."""
    if PIXEL_DATA not in ds:
        return None
    element = ds.get_item(PIXEL_DATA)
    if isinstance(element, RawDataElement):
        value = element.value
        undefined = element.length == _UNDEFINED_LENGTH
    else:
        value = element.value
        undefined = bool(element.is_undefined_length)
    if not isinstance(value, bytes):
        return None
    return value, undefined


def native_pixel_problem(data: bytes, geometry: ImageGeometry) -> str | None:
    expected = geometry.native_bytes
    # an odd length is padded with one byte to keep the element even
    if len(data) < expected:
        return (
            f"the pixel data is {len(data)} bytes but {geometry.rows}x{geometry.columns}"
            f"x{geometry.frames} frame(s) need {expected}: the file is truncated"
        )
    if len(data) > expected + (expected % 2):
        return (
            f"the pixel data is {len(data)} bytes, more than the {expected} its image size declares"
        )
    return None


def encapsulated_pixel_problem(data: bytes, frames: int) -> str | None:
    """Check the item structure of encapsulated pixel data (PS3.5 A.4)
    without decoding: a Basic Offset Table item, then fragments, enough
    fragments for the declared frames, and offsets that land inside."""
    try:
        buffer = BytesIO(data)
        offsets = parse_basic_offsets(buffer)
        sizes = [len(fragment) for fragment in generate_fragments(buffer)]
    except (ValueError, EOFError, OSError) as exc:
        return f"the compressed pixel data is malformed ({exc})"
    if not sizes or not any(sizes):
        return "the compressed pixel data holds no image fragments"
    if len(sizes) < frames:
        return f"the compressed pixel data has {len(sizes)} fragment(s) for {frames} frames"
    if offsets:
        if len(offsets) != frames:
            return (
                f"the compressed pixel data's offset table lists {len(offsets)} frames, "
                f"not the {frames} declared"
            )
        total = sum(size + 8 for size in sizes)
        if any(offset >= total for offset in offsets) or offsets != sorted(offsets):
            return "the compressed pixel data's offset table points outside its fragments"
    return None


# WaveformBitsAllocated -> the linear WaveformSampleInterpretation values
_LINEAR_SAMPLES = {8: ("SB", "UB"), 16: ("SS", "US"), 32: ("SL", "UL")}


def waveform_problem(ds: Dataset, max_samples: int) -> str | None:
    """Check each waveform group's declared size against its data (PS3.3
    C.10.9) so that reading the samples later cannot fail or overrun."""
    groups = ds.get("WaveformSequence")
    if not groups:
        return "the waveform object has no WaveformSequence"
    total = 0
    for number, group in enumerate(groups, start=1):
        channels = get_int(group, "NumberOfWaveformChannels")
        samples = get_int(group, "NumberOfWaveformSamples")
        bits = get_int(group, "WaveformBitsAllocated")
        rate = get_float(group, "SamplingFrequency")
        if channels is None or samples is None or channels < 1 or samples < 1:
            return f"waveform group {number} does not declare its channels and samples"
        if bits not in (8, 16, 32):
            return f"waveform group {number} has WaveformBitsAllocated {bits}"
        interpretation = get_str(group, "WaveformSampleInterpretation")
        if interpretation not in _LINEAR_SAMPLES[bits]:
            # mu-law and A-law (MB, AB) samples are companded: read as plain
            # integers they would be drawn at the wrong amplitude
            return (
                f"waveform group {number} has {bits}-bit samples of interpretation"
                f" {interpretation}, which the viewer cannot read as linear values"
            )
        if rate is None or rate <= 0:
            return f"waveform group {number} has no valid SamplingFrequency"
        definitions = group.get("ChannelDefinitionSequence")
        if not definitions or len(definitions) != channels:
            return f"waveform group {number} does not define each of its {channels} channels"
        total += channels * samples
        if total > max_samples:
            return f"the waveforms hold over {max_samples} samples, the limit"
        data = group.get("WaveformData")
        expected = channels * samples * bits // 8
        if not isinstance(data, bytes) or len(data) < expected:
            return (
                f"waveform group {number} holds {len(data) if isinstance(data, bytes) else 0}"
                f" bytes of samples but declares {expected}: the file is truncated"
            )
    return None
