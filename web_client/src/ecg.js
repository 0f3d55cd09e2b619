// A 12-lead ECG on standard paper: 25 mm/s, 10 mm/mV, 1 mm and 5 mm grid, the usual
// 3 x 4 layout (2.5 s per lead) and a lead II rhythm strip underneath.
// Samples come in microvolts. A lead the server could not scale (samples_uv null: no
// calibration, a unit that is no voltage) is never drawn as a line: a flat trace reads
// as asystole. Its cell says "no trace" and why, and the reasons are listed above.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { formatNumber } from "./marks.js";

const ORDER = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]];
const PX_PER_MM = 4;
export const MM_PER_S = 25;
export const MM_PER_MV = 10;
const TRACE = "#111";
const NO_TRACE = "#b3261e"; // the note in an undrawn cell: never the trace's colour

function leadKey(name) {
  // "Lead II" -> "II", "Lead I (Einthoven)" -> "I", "Lead aVR" -> "aVR"
  return name.replace(/^lead\s+/i, "").replace(/\s*\(.*\)$/, "").trim();
}

function rhythmOf(ecg) {
  return ecg.groups.find((g) => (g.label ?? "").toUpperCase().includes("RHYTHM")) ?? ecg.groups[0];
}

const scaleText = () => `${MM_PER_S} ${t("ecg.mmPerS")} · ${MM_PER_MV} ${t("ecg.mmPerMv")}`;

// What goes above the paper: the scale, and every lead that cannot be drawn and why.
export function ecgNotes(ecg) {
  const problems = ecg.problems ?? [];
  return [
    h("p", { class: "ecg-scale", "data-mm-per-s": String(MM_PER_S), "data-mm-per-mv": String(MM_PER_MV) }, `${t("ecg.scale")}: ${scaleText()}`),
    problems.length
      ? h("div", { class: "ecg-problems", role: "alert" },
        h("strong", { i18n: "ecg.problems" }),
        h("ul", {}, problems.map((p) => h("li", { lang: "en" }, p))))
      : null,
  ].filter(Boolean);
}

export function drawEcg(canvas, ecg) {
  const rhythm = rhythmOf(ecg);
  const leads = new Map(rhythm.leads.map((l) => [leadKey(l.name), l]));
  const drawable = (name) => Array.isArray(leads.get(name)?.samples_uv);
  const mmWide = 250; // 10 s at 25 mm/s
  const rowMm = 30;
  canvas.width = mmWide * PX_PER_MM;
  canvas.height = rowMm * 4 * PX_PER_MM;
  // Leads actually drawn in the 3 x 4 layout (a wrong name would leave a gap), and
  // those that are there but cannot be drawn.
  canvas.dataset.leads = String(ORDER.flat().filter(drawable).length);
  canvas.dataset.noTrace = [...leads.keys()].filter((name) => !drawable(name)).join(" ");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff8f6";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let mm = 0; mm <= Math.max(mmWide, rowMm * 4); mm += 1) {
    ctx.strokeStyle = mm % 5 === 0 ? "#f2a39a" : "#fbd9d4";
    ctx.lineWidth = mm % 5 === 0 ? 1 : 0.5;
    ctx.beginPath();
    ctx.moveTo(mm * PX_PER_MM, 0);
    ctx.lineTo(mm * PX_PER_MM, canvas.height);
    ctx.moveTo(0, mm * PX_PER_MM);
    ctx.lineTo(canvas.width, mm * PX_PER_MM);
    ctx.stroke();
  }
  const hz = rhythm.sampling_hz;
  const trace = (samples, x0Mm, baselineMm, fromS, seconds) => {
    ctx.strokeStyle = TRACE;
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    const first = Math.floor(fromS * hz);
    const count = Math.min(samples.length - first, Math.floor(seconds * hz));
    for (let i = 0; i < count; i += 1) {
      const x = (x0Mm + (i / hz) * MM_PER_S) * PX_PER_MM;
      const y = (baselineMm - (samples[first + i] / 1000) * MM_PER_MV) * PX_PER_MM; // µV -> mm
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.stroke();
  };
  // The reason in the cell where the trace would be, wrapped to the cell's width.
  const noTrace = (lead, x0Mm, baselineMm, widthMm) => {
    ctx.fillStyle = NO_TRACE;
    ctx.font = `${3 * PX_PER_MM}px sans-serif`;
    const words = `${t("ecg.noTrace")}: ${lead.problem ?? t("ecg.uncalibrated")}`.split(/\s+/);
    const lines = [];
    for (const word of words) {
      const last = lines.at(-1);
      if (last && ctx.measureText(`${last} ${word}`).width <= (widthMm - 4) * PX_PER_MM) lines[lines.length - 1] = `${last} ${word}`;
      else lines.push(word);
    }
    lines.slice(0, 5).forEach((text, i) => ctx.fillText(text, (x0Mm + 2) * PX_PER_MM, (baselineMm - 5 + i * 4) * PX_PER_MM));
  };
  const cell = (name, x0Mm, baselineMm, fromS, seconds) => {
    const lead = leads.get(name);
    if (!lead) return;
    if (drawable(name)) trace(lead.samples_uv, x0Mm, baselineMm, fromS, seconds);
    else noTrace(lead, x0Mm, baselineMm, seconds * MM_PER_S);
    ctx.fillStyle = drawable(name) ? TRACE : NO_TRACE;
    ctx.fillText(name, (x0Mm + 1) * PX_PER_MM, (baselineMm - 10) * PX_PER_MM);
  };
  ctx.font = `${3 * PX_PER_MM}px sans-serif`;
  ORDER.forEach((row, r) => {
    row.forEach((name, c) => cell(name, c * 62.5, rowMm * r + 15, c * 2.5, 2.5));
  });
  cell("II", 0, rowMm * 3 + 15, 0, 10);
  // The scale on the paper itself, as a printed ECG carries it.
  ctx.fillStyle = TRACE;
  ctx.font = `${2.5 * PX_PER_MM}px sans-serif`;
  ctx.fillText(scaleText(), (mmWide - 60) * PX_PER_MM, (rowMm * 4 - 2) * PX_PER_MM);
}

// Calipers: click two points on the paper; the interval reads in milliseconds (25 mm/s)
// and the amplitude in millivolts (10 mm/mV), as on paper.
export function attachCalipers(canvas, output) {
  const overlay = document.createElement("canvas");
  overlay.className = "calipers";
  overlay.width = canvas.width;
  overlay.height = canvas.height;
  canvas.after(overlay);
  let first = null;
  const toPaper = (event) => {
    const box = canvas.getBoundingClientRect();
    // canvas pixels -> millimetres of paper
    const x = ((event.clientX - box.left) * (canvas.width / box.width)) / PX_PER_MM;
    const y = ((event.clientY - box.top) * (canvas.height / box.height)) / PX_PER_MM;
    return { x, y };
  };
  const draw = (a, b) => {
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    ctx.strokeStyle = "#0b5cad";
    ctx.lineWidth = 2;
    for (const p of [a, b].filter(Boolean)) {
      ctx.beginPath();
      ctx.moveTo(p.x * PX_PER_MM, 0);
      ctx.lineTo(p.x * PX_PER_MM, overlay.height);
      ctx.stroke();
    }
  };
  const pick = (event) => {
    const point = toPaper(event);
    if (!first) {
      first = point;
      draw(first, null);
      output.value = "";
      return;
    }
    const ms = (Math.abs(point.x - first.x) / 25) * 1000;
    const mv = Math.abs(point.y - first.y) / 10;
    draw(first, point);
    output.value = `Δt ${Math.round(ms)} ms · ΔV ${mv.toFixed(2)} mV`;
    output.dataset.ms = String(Math.round(ms));
    first = null;
  };
  overlay.addEventListener("click", pick);
}
