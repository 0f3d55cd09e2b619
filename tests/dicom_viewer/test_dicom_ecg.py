"""The real 12-lead resting ECG from pydicom's test files."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import FileDataset

from dicom_viewer.ecg import Ecg, read_ecg

Reader = Callable[[str], FileDataset]
Encoder = Callable[[FileDataset], bytes]

LEADS = [
    "Lead I (Einthoven)",
    "Lead II",
    "Lead III",
    "Lead aVR",
    "Lead aVL",
    "Lead aVF",
    "Lead V1",
    "Lead V2",
    "Lead V3",
    "Lead V4",
    "Lead V5",
    "Lead V6",
]


def test_rhythm_has_twelve_named_leads_of_ten_seconds(read_testdata: Reader) -> None:
    ds = read_testdata("waveform_ecg.dcm")
    ecg = read_ecg(ds)
    rhythm = ecg.rhythm
    assert rhythm.label == "RHYTHM"
    assert rhythm.sampling_hz == 1000
    assert rhythm.duration_s == 10
    assert [lead.name for lead in rhythm.leads] == LEADS
    assert all(len(lead.samples_uv or []) == 10_000 for lead in rhythm.leads)
    assert all(lead.unit == "uV" and lead.problem is None for lead in rhythm.leads)
    # microvolts: the raw 16-bit samples times ChannelSensitivity (1.25 uV)
    raw = np.frombuffer(ds.WaveformSequence[0].WaveformData, dtype="<i2").reshape(10_000, 12)
    lead_ii = np.asarray(rhythm.leads[1].samples_uv)
    assert np.allclose(lead_ii, raw[:, 1] * 1.25)
    # Einthoven's law holds on real data: II = I + III
    lead_i = np.asarray(rhythm.leads[0].samples_uv)
    lead_iii = np.asarray(rhythm.leads[2].samples_uv)
    assert np.abs(lead_ii - (lead_i + lead_iii)).max() <= 2.5


def test_median_beat_is_the_second_group(read_testdata: Reader) -> None:
    beat = read_ecg(read_testdata("waveform_ecg.dcm")).median_beat
    assert beat is not None
    assert beat.originality == "DERIVED"
    assert beat.sample_count == 1200 and beat.duration_s == pytest.approx(1.2)
    assert len(beat.leads) == 12


def test_intervals_axes_and_statements(read_testdata: Reader) -> None:
    ecg = read_ecg(read_testdata("waveform_ecg.dcm"))
    values = {m.name: (m.value, m.unit) for m in ecg.measurements}
    assert values["RR Interval"] == (982, "ms")
    assert values["PR Interval"] == (161, "ms")
    assert values["QRS Duration"] == (75, "ms")
    assert values["QT Interval"] == (368, "ms")
    assert values["QTc Interval"] == (370, "ms")
    assert values["QRS Axis"] == (52, "deg")
    assert ecg.statements == ["RITMO SINUSALE", "ECG NORMALE"]
    # 77 annotations: 2 statements, 9 measurements, 66 fiducial points
    assert len(ecg.fiducials) == 66
    onsets = [f.sample for f in ecg.fiducials if f.name == "QRS Onset" and f.group >= 100]
    assert onsets == sorted(onsets) and len(onsets) == 10


def test_everything_serialises_to_json(read_testdata: Reader) -> None:
    ecg = read_ecg(read_testdata("waveform_ecg.dcm"))
    decoded = json.loads(json.dumps(ecg.to_json()))
    assert decoded["groups"][0]["leads"][5]["name"] == "Lead aVF"
    assert len(decoded["groups"][0]["leads"][5]["samples_uv"]) == 10_000
    assert {"name": "QT Interval", "value": 368.0, "unit": "ms"} in decoded["measurements"]


def _in_unit(ds: FileDataset, code: str, meaning: str, per_uv: float) -> FileDataset:
    """The same recording with every sensitivity expressed in ``code``."""
    for group in ds.WaveformSequence:
        for channel in group.ChannelDefinitionSequence:
            channel.ChannelSensitivity = f"{float(channel.ChannelSensitivity) * per_uv:.10g}"
            unit = channel.ChannelSensitivityUnitsSequence[0]
            unit.CodeValue, unit.CodeMeaning = code, meaning
    return ds


def _reread(ds: FileDataset, to_bytes: Encoder) -> FileDataset:
    return dcmread(BytesIO(to_bytes(ds)), force=False)


def _qrs_peak_mv(ecg: Ecg) -> float:
    lead_ii = ecg.rhythm.leads[1].samples_uv
    assert lead_ii is not None
    return max(lead_ii) / 1000


def test_millivolt_and_volt_recordings_give_the_same_amplitudes(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    reference = read_ecg(read_testdata("waveform_ecg.dcm"))
    peak = _qrs_peak_mv(reference)
    assert 0.5 < peak < 3  # a real R wave in lead II, not a flat line
    for code, meaning, per_uv in (("mV", "millivolt", 1e-3), ("V", "volt", 1e-6)):
        ds = _reread(_in_unit(read_testdata("waveform_ecg.dcm"), code, meaning, per_uv), to_bytes)
        stored = ds.WaveformSequence[0].ChannelDefinitionSequence[1].ChannelSensitivity
        assert float(stored) == pytest.approx(1.25 * per_uv)
        ecg = read_ecg(ds)
        assert _qrs_peak_mv(ecg) == pytest.approx(peak)
        for ours, theirs in zip(ecg.groups, reference.groups, strict=True):
            for lead, expected in zip(ours.leads, theirs.leads, strict=True):
                assert lead.unit == code and lead.problem is None
                assert np.allclose(lead.samples_uv or [], expected.samples_uv or [], atol=1e-6)
        assert ecg.problems == []


def test_correction_factor_and_baseline_are_applied_in_the_channel_unit(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    reference = read_ecg(read_testdata("waveform_ecg.dcm")).rhythm.leads[1].samples_uv
    ds = _in_unit(read_testdata("waveform_ecg.dcm"), "mV", "millivolt", 1e-3)
    lead_ii = ds.WaveformSequence[0].ChannelDefinitionSequence[1]
    # the nominal sensitivity is half the true one; calibration says x2
    lead_ii.ChannelSensitivity = "0.000625"
    lead_ii.ChannelSensitivityCorrectionFactor = "2"
    # stored 0 is 0.2 mV above true zero (PS3.3: in the units sequence's unit)
    lead_ii.ChannelBaseline = "0.2"
    samples = read_ecg(_reread(ds, to_bytes)).rhythm.leads[1].samples_uv
    assert samples is not None and reference is not None
    assert np.allclose(np.asarray(samples), np.asarray(reference) + 200.0)


@pytest.mark.parametrize(
    ("code", "scheme"),
    [
        ("mm[Hg]", "UCUM"),  # a pressure channel: no ECG lead
        ("MV", "UCUM"),  # UCUM is case-sensitive: megavolt, never meant
        ("mV", "99LOCAL"),  # not a UCUM code at all
    ],
)
def test_unknown_units_are_not_drawn_as_microvolts(
    read_testdata: Reader, to_bytes: Encoder, code: str, scheme: str
) -> None:
    ds = read_testdata("waveform_ecg.dcm")
    unit = ds.WaveformSequence[0].ChannelDefinitionSequence[1].ChannelSensitivityUnitsSequence[0]
    unit.CodeValue, unit.CodingSchemeDesignator = code, scheme
    ecg = read_ecg(_reread(ds, to_bytes))
    lead_ii = ecg.rhythm.leads[1]
    assert lead_ii.samples_uv is None
    assert lead_ii.unit == code
    assert lead_ii.problem is not None and code in lead_ii.problem
    assert ecg.problems == [f"Lead II: {lead_ii.problem}"]
    assert ecg.rhythm.leads[0].samples_uv is not None  # the other leads still draw
    decoded = json.loads(json.dumps(ecg.to_json()))
    assert decoded["groups"][0]["leads"][1]["samples_uv"] is None
    assert decoded["problems"] == ecg.problems


def test_a_channel_without_sensitivity_or_units_is_flagged(
    read_testdata: Reader, to_bytes: Encoder
) -> None:
    ds = read_testdata("waveform_ecg.dcm")
    channels = ds.WaveformSequence[0].ChannelDefinitionSequence
    del channels[0].ChannelSensitivity
    del channels[0].ChannelSensitivityUnitsSequence
    del channels[2].ChannelSensitivityUnitsSequence
    leads = read_ecg(_reread(ds, to_bytes)).rhythm.leads
    assert leads[0].samples_uv is None and "not calibrated" in (leads[0].problem or "")
    assert leads[2].samples_uv is None and "declares no unit" in (leads[2].problem or "")
