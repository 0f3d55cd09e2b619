// A small element builder: h("button", {class: "x", onclick: fn, i18n: "key"}, "text");
// "i18n-label": "key" gives a translated aria-label.

import { t } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "i18n") {
      el.dataset.i18n = value;
      el.textContent = t(value);
    } else if (key === "i18n-label") {
      // an accessible name that follows the language, like data-i18n does for text
      el.dataset.i18nLabel = value;
      el.setAttribute("aria-label", t(value));
    } else if (key === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function label(text, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return [h("label", { for: id, i18n: text }), control];
}

// One line per uploaded file: accepted, or refused with the server's reason.
export function verdicts(body) {
  const items = (body.results ?? []).map((r) =>
    h("li", { "data-status": r.status }, `${r.file}: ${r.status === "accepted" ? t("imaging.accepted") : `${t("imaging.refused")} — ${r.reason}`}`),
  );
  if (body.error) items.push(h("li", { "data-status": "refused" }, body.error));
  return items;
}
