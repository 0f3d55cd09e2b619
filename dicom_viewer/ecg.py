"""12-lead ECG waveforms and their annotations, as plain data for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydicom.dataset import Dataset

from .attributes import codes_meaning, get_float, get_int, get_str


@dataclass(frozen=True, slots=True)
class Lead:
    name: str  # "Lead II", from ChannelSourceSequence's code meaning
    samples_uv: list[float]  # microvolts, after sensitivity and baseline


@dataclass(frozen=True, slots=True)
class WaveformGroup:
    label: str | None  # MultiplexGroupLabel: "RHYTHM", "MEDIAN BEAT"
    sampling_hz: float
    sample_count: int
    originality: str | None  # ORIGINAL or DERIVED
    leads: list[Lead]

    @property
    def duration_s(self) -> float:
        return self.sample_count / self.sampling_hz


@dataclass(frozen=True, slots=True)
class Measurement:
    """A numeric annotation: an interval (RR, PR, QRS, QT, QTc) or an axis."""

    name: str
    value: float
    unit: str | None  # UCUM code: "ms", "deg"


@dataclass(frozen=True, slots=True)
class Fiducial:
    """A point the device marked in a beat (P onset, QRS offset, ...)."""

    name: str
    sample: int
    group: int  # AnnotationGroupNumber: the beat it belongs to


@dataclass(frozen=True, slots=True)
class Ecg:
    groups: list[WaveformGroup]
    measurements: list[Measurement]
    fiducials: list[Fiducial]
    statements: list[str]  # free-text interpretation, e.g. "SINUS RHYTHM"

    @property
    def rhythm(self) -> WaveformGroup:
        """The rhythm strip: the group so labelled, else the first original."""
        return self._group("RHYTHM") or next(
            (g for g in self.groups if g.originality == "ORIGINAL"), self.groups[0]
        )

    @property
    def median_beat(self) -> WaveformGroup | None:
        return self._group("MEDIAN BEAT")

    def measurement(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    def _group(self, label: str) -> WaveformGroup | None:
        return next((g for g in self.groups if (g.label or "").upper() == label), None)

    def to_json(self) -> dict[str, Any]:
        """A dict of lists, numbers and strings for json.dumps."""
        return asdict(self)


def _lead_name(channel: Dataset, number: int) -> str:
    name = codes_meaning(channel.get("ChannelSourceSequence"))
    return name or get_str(channel, "ChannelLabel") or f"Channel {number}"


def _group(ds: Dataset, index: int) -> WaveformGroup:
    group = ds.WaveformSequence[index]
    # waveform_array applies ChannelSensitivity, correction and baseline
    samples = ds.waveform_array(index)
    channels = group.ChannelDefinitionSequence
    leads = [
        Lead(_lead_name(channel, number), samples[:, number].astype(float).tolist())
        for number, channel in enumerate(channels)
    ]
    rate = get_float(group, "SamplingFrequency")
    count = get_int(group, "NumberOfWaveformSamples")
    assert rate is not None and count is not None  # checked by validate
    return WaveformGroup(
        label=get_str(group, "MultiplexGroupLabel"),
        sampling_hz=rate,
        sample_count=count,
        originality=get_str(group, "WaveformOriginality"),
        leads=leads,
    )


def read_ecg(ds: Dataset) -> Ecg:
    """Leads in microvolts, measurements and fiducials of a validated ECG."""
    groups = [_group(ds, i) for i in range(len(ds.WaveformSequence))]
    measurements: list[Measurement] = []
    fiducials: list[Fiducial] = []
    statements: list[str] = []
    for item in ds.get("WaveformAnnotationSequence", []):
        name = codes_meaning(item.get("ConceptNameCodeSequence"))
        text = get_str(item, "UnformattedTextValue")
        value = get_float(item, "NumericValue")
        positions = item.get("ReferencedSamplePositions")
        group = get_int(item, "AnnotationGroupNumber") or 0
        if text is not None:
            statements.append(text)
        elif name is not None and value is not None:
            unit_items = item.get("MeasurementUnitsCodeSequence")
            unit = get_str(unit_items[0], "CodeValue") if unit_items else None
            measurements.append(Measurement(name, value, unit))
        elif name is not None and positions is not None:
            sample = positions if isinstance(positions, int) else positions[0]
            fiducials.append(Fiducial(name, int(sample), group))
    return Ecg(groups, measurements, fiducials, statements)
