"""12-lead ECG waveforms and their annotations, as plain data for JSON.

Samples are sent in one unit, microvolts, whatever unit the file records
them in. Per PS3.3 C.10.9.1.4.3 a sample's value is

    (stored x ChannelSensitivity x ChannelSensitivityCorrectionFactor
     + ChannelBaseline) in the unit of ChannelSensitivityUnitsSequence,

which is then converted to microvolts. A channel whose unit is not a known
voltage, or which has no ChannelSensitivity (arbitrary units), is not
scaled at all: its ``samples_uv`` is ``None`` and ``problem`` says why, so
the viewer shows the reason instead of a trace at the wrong scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.waveforms.numpy_handler import multiplex_array

from .attributes import codes_meaning, get_float, get_int, get_str
from .waveform_units import channel_unit


@dataclass(frozen=True, slots=True)
class Lead:
    name: str  # "Lead II", from ChannelSourceSequence's code meaning
    # microvolts, after sensitivity, correction factor and baseline; None
    # when the channel cannot be put in volts (see ``problem``)
    samples_uv: list[float] | None
    unit: str | None = None  # the unit code the file records, e.g. "mV"
    problem: str | None = None  # why samples_uv is None, for the clinician


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
    def problems(self) -> list[str]:
        """Leads that cannot be drawn, named with the reason."""
        return [
            f"{lead.name}: {lead.problem}"
            for group in self.groups
            for lead in group.leads
            if lead.problem is not None
        ]

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
        return {**asdict(self), "problems": self.problems}


def _lead_name(channel: Dataset, number: int) -> str:
    name = codes_meaning(channel.get("ChannelSourceSequence"))
    return name or get_str(channel, "ChannelLabel") or f"Channel {number}"


def _lead(channel: Dataset, number: int, stored: NDArray[Any]) -> Lead:
    name = _lead_name(channel, number + 1)
    unit = channel_unit(channel)
    if "ChannelSensitivity" not in channel:
        # PS3.3: absent when the samples are in arbitrary units
        problem = "the channel has no ChannelSensitivity: its samples are not calibrated"
        return Lead(name, None, unit.code, problem)
    sensitivity = get_float(channel, "ChannelSensitivity")
    correction = (
        get_float(channel, "ChannelSensitivityCorrectionFactor")
        if "ChannelSensitivityCorrectionFactor" in channel
        else 1.0
    )
    baseline = get_float(channel, "ChannelBaseline") if "ChannelBaseline" in channel else 0.0
    if not sensitivity or not correction or baseline is None:
        problem = "the channel's sensitivity, correction factor or baseline is not a number"
        return Lead(name, None, unit.code, problem)
    if unit.microvolts_per_unit is None:
        return Lead(name, None, unit.code, unit.problem)
    physical = stored.astype(np.float64) * (sensitivity * correction) + baseline
    return Lead(name, (physical * unit.microvolts_per_unit).tolist(), unit.code)


def _group(ds: Dataset, index: int) -> WaveformGroup:
    group = ds.WaveformSequence[index]
    # the stored integers: scaling is done here, per channel, with its unit
    stored = multiplex_array(ds, index, as_raw=True)
    channels = group.ChannelDefinitionSequence
    leads = [_lead(channel, number, stored[:, number]) for number, channel in enumerate(channels)]
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
