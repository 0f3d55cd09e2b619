// Measurements drawn over an image: lengths, angles and regions (ellipse or rectangle).
// Points are image pixels (x = column, y = row), as in the shared view state; the
// SVG over the picture has the image's size as its viewBox, so marks move and zoom
// with it. Labels are HTML, so they keep a readable size at any image resolution.

import { h } from "./dom.js";
import { language, t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

// The tools a presenter can pick; `points` is how many clicks make one measurement.
export const TOOLS = {
  pan: { key: "p", i18n: "imaging.pan", points: 0, hint: "imaging.hint.pan" },
  length: { key: "l", i18n: "imaging.measure", points: 2, hint: "imaging.hint.length" },
  angle: { key: "a", i18n: "imaging.measureAngle", points: 3, hint: "imaging.hint.angle" },
  ellipse: { key: "e", i18n: "imaging.ellipse", points: 2, hint: "imaging.hint.region" },
  rectangle: { key: "r", i18n: "imaging.rectangle", points: 2, hint: "imaging.hint.region" },
};

let counter = 0;

// The annotation a finished set of clicks makes; the server fills in the numbers it
// computes (length in mm, angle in degrees, mean and SD of the pixels of a region).
export function annotationOf(tool, points, frame) {
  const id = `m${Date.now().toString(36)}${(counter += 1).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  if (tool === "length") return { kind: "length", id, frame, start: points[0], end: points[1] };
  if (tool === "angle") return { kind: "angle", id, frame, a: points[0], vertex: points[1], b: points[2] };
  return { kind: "region", id, frame, shape: tool, corner_a: points[0], corner_b: points[1] };
}

// The area of the drawn shape in mm², from PixelSpacing ([row spacing, column
// spacing] = [dy, dx] in mm): π·a·b for the ellipse inscribed in the two corners.
export function regionAreaMm2(region, spacing) {
  if (!spacing) return null;
  const [dy, dx] = spacing;
  const width = Math.abs(region.corner_b.x - region.corner_a.x) * dx;
  const height = Math.abs(region.corner_b.y - region.corner_a.y) * dy;
  return region.shape === "rectangle" ? width * height : (Math.PI * width * height) / 4;
}

export function formatNumber(value, digits = 1, fewest = digits) {
  // Vietnamese writes a decimal comma; no grouping, so "1234,5" cannot read as two numbers.
  return new Intl.NumberFormat(language() === "vi" ? "vi-VN" : "en-GB", {
    minimumFractionDigits: fewest,
    maximumFractionDigits: digits,
    useGrouping: false,
  }).format(value);
}

const known = (value) => value !== null && value !== undefined;

function labelText(annotation, spacing) {
  if (annotation.kind === "length") {
    return known(annotation.length_mm) ? `${formatNumber(annotation.length_mm)} ${t("imaging.unit.mm")}` : "?";
  }
  if (annotation.kind === "angle") {
    return known(annotation.degrees) ? `${formatNumber(annotation.degrees)}${t("imaging.unit.degrees")}` : "?";
  }
  const area = regionAreaMm2(annotation, spacing);
  const parts = [`${t("imaging.area")} ${known(area) ? `${formatNumber(area)} ${t("imaging.unit.mm2")}` : `? (${t("imaging.noSpacing")})`}`];
  if (known(annotation.mean)) {
    const unit = annotation.unit ? ` ${annotation.unit}` : "";
    parts.push(`${t("imaging.mean")} ${formatNumber(annotation.mean)}${unit}, ${t("imaging.sd")} ${formatNumber(annotation.sd)}${unit}`);
  }
  return parts.join(" · ");
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

const line = (a, b) => svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y });

function shape(kind, a, b) {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  const width = Math.abs(b.x - a.x);
  const height = Math.abs(b.y - a.y);
  if (kind === "rectangle") return svg("rect", { x, y, width, height });
  return svg("ellipse", { cx: x + width / 2, cy: y + height / 2, rx: width / 2, ry: height / 2 });
}

// Draws the annotations of one frame. `layer` is {svg, wrap, width, height, spacing(frame)}.
export function drawMarks(layer, annotations, frame) {
  const { svg: marks, wrap, width, height } = layer;
  marks.querySelectorAll(".mark").forEach((el) => el.remove());
  wrap.querySelectorAll(".mark-label").forEach((el) => el.remove());
  for (const a of annotations ?? []) {
    if (a.frame !== frame) continue;
    const group = svg("g", { class: `mark ${a.kind}`, "data-id": a.id });
    let anchor;
    const spacing = layer.spacing(a.frame);
    const label = h("span", { class: "mark-label", "data-kind": a.kind }, labelText(a, spacing));
    if (a.kind === "length") {
      group.append(line(a.start, a.end));
      anchor = { x: (a.start.x + a.end.x) / 2, y: Math.min(a.start.y, a.end.y) };
      if (known(a.length_mm)) label.dataset.value = String(a.length_mm);
    } else if (a.kind === "angle") {
      group.append(line(a.a, a.vertex), line(a.vertex, a.b));
      anchor = a.vertex;
      if (known(a.degrees)) label.dataset.value = String(a.degrees);
    } else if (a.kind === "region") {
      group.append(shape(a.shape, a.corner_a, a.corner_b));
      anchor = { x: (a.corner_a.x + a.corner_b.x) / 2, y: Math.min(a.corner_a.y, a.corner_b.y) };
      const area = regionAreaMm2(a, spacing);
      if (known(area)) label.dataset.area = String(area);
      if (known(a.mean)) label.dataset.mean = String(a.mean);
      if (known(a.sd)) label.dataset.sd = String(a.sd);
    } else {
      continue; // kinds this client does not draw (arrows)
    }
    marks.append(group);
    label.style.left = `${(anchor.x / width) * 100}%`;
    label.style.top = `${(anchor.y / height) * 100}%`;
    wrap.append(label);
  }
}

// The clicks of a measurement in progress, and where it would end under the pointer.
// `radius` is a few screen pixels, in image pixels.
export function drawPending(marksSvg, tool, points, hover, radius) {
  marksSvg.querySelector(".pending")?.remove();
  if (!points.length) return;
  const group = svg("g", { class: "pending" });
  const all = hover ? [...points, hover] : points;
  if (tool === "ellipse" || tool === "rectangle") {
    if (all.length >= 2) group.append(shape(tool, all[0], all[1]));
  } else {
    for (let i = 1; i < all.length; i += 1) group.append(line(all[i - 1], all[i]));
  }
  for (const p of points) group.append(svg("circle", { cx: p.x, cy: p.y, r: radius }));
  marksSvg.append(group);
}
