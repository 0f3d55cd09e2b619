// Whose images these are, written in the viewer's corners as every diagnostic viewer
// does: an image read without its patient's identity can be read as someone else's.
// The corners name the patient (name, ID, sex, age, birth date), the study (date, time,
// institution, accession) and where in the series the slice is. A study whose PatientID
// differs from the case file's patient, or that names nobody, says so on the image.

import { h } from "./dom.js";
import { language, t } from "./i18n.js";
import { formatNumber } from "./marks.js";

// DICOM PN: "Family^Given^Middle^Prefix^Suffix", with "=" between the alphabetic,
// ideographic and phonetic forms. The alphabetic form is shown, else the first given.
export function personName(pn) {
  if (!pn) return null;
  const group = String(pn).split("=").find((g) => g.replace(/\^/g, "").trim()) ?? "";
  const text = group.split("^").map((part) => part.trim()).filter(Boolean).join(" ");
  return text || null;
}

// YYYYMMDD (DICOM DA) or YYYY-MM-DD (ISO) -> the page's way of writing a date.
export function formatDate(value) {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(String(value ?? "").trim());
  if (!m) return null;
  const [, y, mo, d] = m;
  return language() === "vi" ? `${d}/${mo}/${y}` : `${y}-${mo}-${d}`;
}

// HHMMSS.frac (DICOM TM) -> HH:MM(:SS)
export function formatTime(value) {
  const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(String(value ?? "").trim());
  if (!m) return null;
  return [m[1], m[2] ?? "00", m[3]].filter(Boolean).join(":");
}

const AGE_UNITS = { D: "identity.age.days", W: "identity.age.weeks", M: "identity.age.months", Y: "identity.age.years" };

// DICOM AS ("045Y") or, failing that, whole years between birth and the study.
export function formatAge(age, birthDate, studyDate) {
  const m = /^(\d{3})([DWMY])$/.exec(String(age ?? "").trim());
  if (m) return `${Number(m[1])} ${t(AGE_UNITS[m[2]])}`;
  const born = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(String(birthDate ?? ""));
  const seen = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(String(studyDate ?? ""));
  if (!born || !seen) return null;
  const [by, bm, bd] = born.slice(1).map(Number);
  const [sy, sm, sd] = seen.slice(1).map(Number);
  const years = sy - by - (sm < bm || (sm === bm && sd < bd) ? 1 : 0);
  return years >= 0 ? `${years} ${t(AGE_UNITS.Y)}` : null;
}

// DICOM "M"/"F"/"O" and the platform's "male"/"female"/"other"/"unknown"
const SEX_KEYS = { M: "sex.male", F: "sex.female", O: "sex.other", MALE: "sex.male", FEMALE: "sex.female", OTHER: "sex.other", UNKNOWN: "sex.unknown" };

export function formatSex(value) {
  const key = SEX_KEYS[String(value ?? "").trim().toUpperCase()];
  return key ? t(key) : null;
}

const sameId = (a, b) => String(a ?? "").trim() === String(b ?? "").trim();

// How the study's identity stands against the case file's patient.
export function identityProblem(study, casePatient) {
  const id = String(study?.patient_id ?? "").trim();
  if (!id && !personName(study?.patient_name)) return "missing";
  if (casePatient && id && casePatient.id && !sameId(id, casePatient.id)) return "mismatch";
  return null;
}

const line = (name, text) => h("span", { class: "line", "data-field": name }, text);

// The patient's and study's lines; "missing" text where the file gives none.
function patientLines(study) {
  const missing = t("identity.missing");
  const sexAge = [formatSex(study.patient_sex), formatAge(study.patient_age, study.patient_birth_date, study.study_date)].filter(Boolean).join(" · ");
  const born = formatDate(study.patient_birth_date);
  return [
    h("strong", { class: "line", "data-field": "name" }, personName(study.patient_name) ?? `${t("identity.name")}: ${missing}`),
    line("id", `${t("identity.id")}: ${String(study.patient_id ?? "").trim() || missing}`),
    sexAge ? line("sex-age", sexAge) : null,
    born ? line("birth-date", `${t("identity.born")} ${born}`) : null,
  ];
}

function studyLines(study) {
  const when = [formatDate(study.study_date), formatTime(study.study_time)].filter(Boolean).join(" ");
  return [
    line("institution", study.institution || `${t("identity.institution")}: ${t("identity.missing")}`),
    line("study-date", when ? `${t("identity.studyDate")} ${when}` : `${t("identity.studyDate")}: ${t("identity.missing")}`),
    study.accession_number ? line("accession", `${t("identity.accession")} ${study.accession_number}`) : null,
    study.description ? line("description", study.description) : null,
  ];
}

function banner(problem, study, casePatient) {
  if (problem === "mismatch") {
    const file = `${personName(study.patient_name) ?? t("identity.missing")} (${study.patient_id})`;
    const ours = `${casePatient.name ?? ""} (${casePatient.id})`;
    return h("p", { class: "identity-warning", role: "alert", "data-problem": problem },
      h("strong", { i18n: "identity.otherPatient" }), ` — ${t("identity.inImages")}: ${file}; ${t("identity.caseFile")}: ${ours}`);
  }
  if (problem === "missing") {
    return h("p", { class: "identity-warning", role: "alert", "data-problem": problem }, h("strong", { i18n: "identity.noIdentity" }));
  }
  return null;
}

// The identity overlay of a viewer: a top band (warning, patient left, study right)
// and a bottom band (series and slice left, view right). Over the picture's black
// margins on a wide screen; above and below the picture on a phone (see style.css).
export class Corners {
  constructor({ band = false } = {}) {
    this.top = h("div", { class: `corners top${band ? " band" : ""}`, "data-corners": "top" });
    this.bottom = h("div", { class: `corners bottom${band ? " band" : ""}`, "data-corners": "bottom" });
    this.study = null;
    this.casePatient = null;
  }

  // The study's identity; redrawn on a change of language by calling it again.
  identify(study, casePatient) {
    this.study = study ?? {};
    this.casePatient = casePatient ?? null;
    const problem = identityProblem(this.study, this.casePatient);
    this.top.dataset.problem = problem ?? "none";
    this.top.replaceChildren(
      ...[banner(problem, this.study, this.casePatient)].filter(Boolean),
      h("div", { class: "corner-row" },
        h("div", { class: "corner tl", "data-corner": "patient" }, ...patientLines(this.study).filter(Boolean)),
        h("div", { class: "corner tr", "data-corner": "study" }, ...studyLines(this.study).filter(Boolean))),
    );
  }

  // Where in the series: its number and description, the slice and its position.
  locate({ series = null, frame = 0, frames = 1, instance = null, view = null } = {}) {
    const seriesText = series ? [series.number != null ? `${t("identity.series")} ${series.number}` : null, series.description].filter(Boolean).join(" · ") : null;
    const z = Array.isArray(instance?.position) && Number.isFinite(instance.position[2]) ? instance.position[2] : null;
    const left = [
      seriesText ? line("series", seriesText) : null,
      line("slice", `${t("imaging.slice")} ${frame + 1} / ${frames}`),
      z !== null ? line("position", `${t("identity.position")} ${formatNumber(z, 1, 1)} ${t("imaging.unit.mm")}`) : null,
    ];
    this.bottom.replaceChildren(
      h("div", { class: "corner-row" },
        h("div", { class: "corner bl", "data-corner": "series" }, ...left.filter(Boolean)),
        view ? h("div", { class: "corner br", "data-corner": "view" }, line("view", view)) : h("div", { class: "corner br" })),
    );
  }
}
