"""A printable HTML summary of a consultation and its conclusion (print to PDF from any browser)."""

from __future__ import annotations

from html import escape
from typing import Any

from signalling.db.models import Consultation

LABELS = {
    "diagnosis": "Chẩn đoán / Diagnosis",
    "recommendations": "Khuyến nghị / Recommendations",
    "treatment_plan": "Điều trị / Treatment plan",
    "follow_up": "Theo dõi / Follow-up",
}


def summary_html(c: Consultation, case: dict[str, Any] | None, facility_name: str) -> str:
    patient = (case or {}).get("patient") or {}
    rows = [
        ("Cơ sở / Facility", facility_name),
        ("Bệnh nhân / Patient", patient.get("full_name", "")),
        ("Mã / Identifier", patient.get("identifier", "")),
        ("Ngày sinh / Born", patient.get("date_of_birth") or ""),
        ("Chuyên khoa / Specialty", c.specialty),
        ("Câu hỏi / Question", c.question),
        ("Trạng thái / Status", c.status.value),
    ]
    parts = [
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>",
        "<title>Kết luận hội chẩn / Consultation summary</title>",
        "<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto;line-height:1.45}"
        "th{text-align:left;padding-right:1rem;vertical-align:top}"
        "@media print{a{display:none}}</style></head><body>",
        "<h1>Kết luận hội chẩn từ xa / Teleconsultation summary</h1><table>",
        *(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows),
        "</table>",
    ]
    conclusions = [d for d in (case or {}).get("documents", []) if d["kind"] == "conclusion"]
    for doc in conclusions:
        parts.append(f"<h2>Kết luận / Conclusion (v{doc['version']})</h2><dl>")
        for key, label in LABELS.items():
            if doc["body"].get(key):
                parts.append(f"<dt>{escape(label)}</dt><dd>{escape(doc['body'][key])}</dd>")
        parts.append("</dl>")
        signed = ", ".join(
            f"{s['name']} ({s['at'][:16].replace('T', ' ')})" for s in doc["signed_by"]
        )
        parts.append(
            f"<p><strong>Ký / Signed:</strong> {escape(signed or 'chưa ký / unsigned')}</p>"
        )
    if not conclusions:
        parts.append("<p>Chưa có kết luận. / No conclusion yet.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
