"""The real 12-lead resting ECG from pydicom's test files."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from pydicom.dataset import FileDataset

from dicom_viewer.ecg import read_ecg

Reader = Callable[[str], FileDataset]

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
    assert all(len(lead.samples_uv) == 10_000 for lead in rhythm.leads)
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
