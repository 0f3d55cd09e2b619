"""The FHIR builders one by one, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from signalling.casefile.fhir_export import (
    _appointment,
    _imaging_study,
    _period,
    _Refs,
    _report,
    _series,
    _urn,
)
from signalling.db.models import (
    Consultation,
    ConsultKind,
    ConsultStatus,
    ImagingSeries,
    ImagingStudy,
    Urgency,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
REFS = _Refs(patient=None, encounter=_urn("encounter", "c1"))


def _consultation(**fields: object) -> Consultation:
    return Consultation(
        id="c1",
        kind=ConsultKind.CLINICAL,
        urgency=Urgency.URGENT,
        question="Chest pain",
        status=fields.pop("status", ConsultStatus.SCHEDULED),
        **fields,
    )


def test_urns_are_deterministic() -> None:
    assert _urn("study", "1.2.3") == _urn("study", "1.2.3") != _urn("study", "1.2.4")


def test_period_only_once_started_and_end_only_once_ended() -> None:
    assert _period(_consultation()) == {}
    assert _period(_consultation(started_at=T0)) == {"period": {"start": T0.isoformat()}}
    ended = _consultation(started_at=T0, ended_at=T0.replace(hour=9))
    assert _period(ended)["period"] == {"start": T0.isoformat(), "end": "2024-05-01T09:00:00+00:00"}


def test_an_appointment_lasts_thirty_minutes_until_it_ends() -> None:
    practitioners = {1: _urn("practitioner", "bm.cardio")}
    booked = _appointment(_consultation(), T0, None, practitioners)
    assert booked.status == "booked"
    assert booked.end.isoformat() == "2024-05-01T08:30:00+00:00"
    assert [p.actor.reference for p in booked.participant] == list(practitioners.values())
    patient = _urn("patient", "7")
    ended = _consultation(status=ConsultStatus.ENDED, ended_at=T0.replace(hour=9))
    done = _appointment(ended, T0, patient, practitioners)
    assert done.status == "fulfilled" and done.end.hour == 9
    assert done.participant[0].actor.reference == patient


def test_a_report_names_only_signers_in_the_bundle() -> None:
    doc = {
        "document": "d1",
        "version": 1,
        "created_at": T0.isoformat(),
        "body": {"diagnosis": "STEMI", "follow_up": ""},
        "signed_by": [{"username": "bm.cardio"}, {"username": "elsewhere"}],
    }
    report = _report(doc, REFS, {1: _urn("practitioner", "bm.cardio")})
    assert report.status == "final" and report.subject is None
    assert [r.reference for r in report.resultsInterpreter] == [_urn("practitioner", "bm.cardio")]
    assert report.presentedForm[0].data == b"diagnosis: STEMI"
    assert _report({**doc, "signed_by": []}, REFS, {}).status == "preliminary"


def test_a_study_without_a_patient_names_whom_dicom_says() -> None:
    study = ImagingStudy(study_uid="1.2.3", patient_name=None, description=None)
    series = [ImagingSeries(series_uid="1.2.3.1", modality=None, series_number=None)]
    endpoint = _urn("endpoint", "wado-rs")
    fhir = _imaging_study(study, series, {"1.2.3.1": 2}, REFS, endpoint)
    assert fhir.subject.display == "unknown" and fhir.numberOfInstances == 2
    assert fhir.series[0].modality.code == "OT" and fhir.series[0].number is None
    patient = _urn("patient", "7")
    with_patient = _imaging_study(study, [], {}, _Refs(patient, REFS.encounter), endpoint)
    assert with_patient.subject.reference == patient and with_patient.numberOfSeries == 0
    assert _series(series[0], 0)["numberOfInstances"] == 0
