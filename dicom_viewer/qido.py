"""QIDO-RS searches over the index, answered in the DICOM JSON model.

Matching follows PS3.4 C.2.2.2: an empty value matches everything, ``*``
and ``?`` are wildcards, a list of UIDs (comma or backslash separated)
matches any of them, and dates match ranges ``from-to``, ``from-`` or
``-to``. Person names match without regard to case, as most archives do.
Query keys may be keywords or tags ("PatientName" or "00100010").
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from .index import ImagingIndex, InstanceRecord, SeriesRecord, StudyRecord

# query parameters of PS3.18 8.3.4 that are not attribute matches
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
_DATE = re.compile(r"^\d{8}$")


class QueryError(ValueError):
    """A query the server cannot answer (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int | None
    offset: int


def _keyword(key: str) -> str:
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        keyword = keyword_for_tag(int(key, 16))
        if keyword:
            return keyword
    elif tag_for_keyword(key) is not None:
        return key
    raise QueryError(f"unknown query key {key!r}")


def _paging(params: Mapping[str, str]) -> Paging:
    def number(name: str) -> int | None:
        text = params.get(name)
        if text is None or text == "":
            return None
        if not text.isdigit():
            raise QueryError(f"{name} must be a whole number")
        return int(text)

    return Paging(number("limit"), number("offset") or 0)


def _wildcard(pattern: str, value: str | None, *, fold_case: bool = False) -> bool:
    if value is None:
        return pattern in ("", "*")
    if fold_case:
        pattern, value = pattern.lower(), value.lower()
    # fnmatch treats [ ] as a set; DICOM has no such syntax
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value, escaped)


def _date_range(query: str, value: str | None) -> bool:
    if "-" not in query:
        return value == query
    start, _, end = query.partition("-")
    for bound in (start, end):
        if bound and not _DATE.match(bound):
            raise QueryError(f"date range {query!r} is not YYYYMMDD-YYYYMMDD")
    if value is None:
        return False
    return (not start or value >= start) and (not end or value <= end)


def _uid_list(query: str, value: str | None) -> bool:
    return value in {part.strip() for part in re.split(r"[,\\]", query) if part.strip()}


def _matches(keyword: str, query: str, value: str | None) -> bool:
    if query == "":
        return True
    vr = dictionary_VR(keyword)
    if vr == "UI":
        return _uid_list(query, value)
    if vr == "DA":
        return _date_range(query, value)
    return _wildcard(query, value, fold_case=vr == "PN")


def _study_values(study: StudyRecord) -> dict[str, str | None]:
    modalities = sorted({s.modality for s in study.series.values() if s.modality})
    return {
        "StudyInstanceUID": study.study_instance_uid,
        "PatientName": study.patient_name,
        "PatientID": study.patient_id,
        "StudyDate": study.study_date,
        "StudyDescription": study.description,
        "ModalitiesInStudy": "\\".join(modalities) or None,
    }


def _series_values(series: SeriesRecord) -> dict[str, str | None]:
    return {
        "SeriesInstanceUID": series.series_instance_uid,
        "Modality": series.modality,
        "SeriesNumber": None if series.series_number is None else str(series.series_number),
        "SeriesDescription": series.description,
    }


def _instance_values(record: InstanceRecord) -> dict[str, str | None]:
    info = record.info
    return {
        "SOPInstanceUID": info.sop_instance_uid,
        "SOPClassUID": info.sop_class_uid,
        "InstanceNumber": None if info.instance_number is None else str(info.instance_number),
        "Rows": None if info.rows is None else str(info.rows),
        "Columns": None if info.columns is None else str(info.columns),
        "NumberOfFrames": str(info.frames),
    }


def _filter(params: Mapping[str, str], values: dict[str, str | None]) -> bool:
    """Whether every query key of this level matches; keys of other levels
    are left to them."""
    for key, query in params.items():
        if key in _CONTROL:
            continue
        keyword = _keyword(key)
        if keyword not in values:
            continue
        if keyword == "ModalitiesInStudy":
            present = (values[keyword] or "").split("\\")
            wanted = [m for m in re.split(r"[,\\]", query) if m]
            if wanted and not set(wanted) & set(present):
                return False
            continue
        if not _matches(keyword, query, values[keyword]):
            return False
    return True


def _check_keys(params: Mapping[str, str], known: Iterable[str]) -> None:
    allowed = set(known)
    for key in params:
        if key not in _CONTROL and _keyword(key) not in allowed:
            raise QueryError(f"{key} cannot be searched at this level")


def _page(items: list[Any], paging: Paging) -> list[Any]:
    end = None if paging.limit is None else paging.offset + paging.limit
    return items[paging.offset : end]


_STUDY_KEYS = set(_study_values(StudyRecord("", None, None, None, None)))
_SERIES_KEYS = set(_series_values(SeriesRecord("", None, None, None)))
_INSTANCE_KEYS = {
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
}


def search_studies(index: ImagingIndex, params: Mapping[str, str]) -> list[StudyRecord]:
    _check_keys(params, _STUDY_KEYS)
    found = [s for s in index.studies.values() if _filter(params, _study_values(s))]
    found.sort(key=lambda s: (s.study_date or "", s.study_instance_uid))
    return _page(found, _paging(params))


def search_series(
    index: ImagingIndex, params: Mapping[str, str], study_uid: str | None = None
) -> list[tuple[StudyRecord, SeriesRecord]]:
    _check_keys(params, _STUDY_KEYS | _SERIES_KEYS)
    return _page(_matching_series(index, params, study_uid), _paging(params))


def _matching_series(
    index: ImagingIndex, params: Mapping[str, str], study_uid: str | None
) -> list[tuple[StudyRecord, SeriesRecord]]:
    found = [
        (study, series)
        for study in index.studies.values()
        if (study_uid is None or study.study_instance_uid == study_uid)
        and _filter(params, _study_values(study))
        for series in study.series.values()
        if _filter(params, _series_values(series))
    ]
    found.sort(key=lambda pair: (pair[1].series_number or 0, pair[1].series_instance_uid))
    return found


def search_instances(
    index: ImagingIndex,
    params: Mapping[str, str],
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> list[tuple[StudyRecord, SeriesRecord, InstanceRecord]]:
    _check_keys(params, _STUDY_KEYS | _SERIES_KEYS | _INSTANCE_KEYS)
    found = [
        (study, series, record)
        for study, series in _matching_series(index, params, study_uid)
        if series_uid is None or series.series_instance_uid == series_uid
        for record in series.ordered()
        if _filter(params, _instance_values(record))
    ]
    return _page(found, _paging(params))


def _element(keyword: str, value: str | int | None) -> dict[str, Any]:
    vr = dictionary_VR(keyword)
    element: dict[str, Any] = {"vr": vr}
    if value is None or value == "":
        return element
    if vr == "PN":
        element["Value"] = [{"Alphabetic": value}]
    elif vr in ("IS", "US", "UL"):
        element["Value"] = [int(value)]
    elif vr == "CS" and isinstance(value, str):
        element["Value"] = value.split("\\")
    else:
        element["Value"] = [value]
    return element


def _json(values: Mapping[str, str | int | None]) -> dict[str, Any]:
    """DICOM JSON model (PS3.18 F.2): tags in hex as keys."""
    return {
        f"{tag_for_keyword(keyword):08X}": _element(keyword, value)
        for keyword, value in sorted(values.items(), key=lambda kv: tag_for_keyword(kv[0]) or 0)
    }


def study_json(study: StudyRecord) -> dict[str, Any]:
    values: dict[str, str | int | None] = dict(_study_values(study))
    values["NumberOfStudyRelatedSeries"] = len(study.series)
    values["NumberOfStudyRelatedInstances"] = sum(len(s.instances) for s in study.series.values())
    return _json(values)


def series_json(study: StudyRecord, series: SeriesRecord) -> dict[str, Any]:
    values: dict[str, str | int | None] = dict(_series_values(series))
    values["StudyInstanceUID"] = study.study_instance_uid
    values["NumberOfSeriesRelatedInstances"] = len(series.instances)
    return _json(values)


def instance_json(
    study: StudyRecord, series: SeriesRecord, record: InstanceRecord
) -> dict[str, Any]:
    values: dict[str, str | int | None] = dict(_instance_values(record))
    values["StudyInstanceUID"] = study.study_instance_uid
    values["SeriesInstanceUID"] = series.series_instance_uid
    return _json(values)
