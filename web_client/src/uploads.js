// The verdicts of an imaging upload, one item per file: accepted, refused (with the
// reason in the page's language where its code is known) or held because the file is
// of another patient than the case file's. A held file was not stored: it shows both
// identities side by side, and the uploader files it anyway (its upload, kept on the
// server, named again with confirm_patient, which the server audits as their decision)
// or discards it (the server's copy is removed).

import { confirmUploads, uploadFiles } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { formatDate, formatSex, personName } from "./identity.js";
import { discardUpload } from "./resumable.js";

const CODES = ["invalid", "too_large", "uid_conflict", "duplicate", "patient_mismatch"];
const STATUSES = ["accepted", "refused", "held"];

function reasonOf(result) {
  if (!CODES.includes(result.code)) return [result.reason ?? ""];
  // The localised reason first; the server's own words for whoever needs the detail.
  const detail = result.reason
    ? h("details", { class: "reason-detail" }, h("summary", { i18n: "upload.detail" }), h("span", { lang: "en" }, result.reason))
    : null;
  return [t(`upload.code.${result.code}`), detail];
}

const ROWS = [
  ["name", "identity.name", (p) => personName(p?.name)],
  ["id", "identity.id", (p) => p?.id ?? null],
  ["birth_date", "identity.birthDate", (p) => formatDate(p?.birth_date)],
  ["sex", "identity.sex", (p) => formatSex(p?.sex)],
];

// The file's patient beside the case file's, differing rows marked.
function comparison(result) {
  const missing = t("identity.missing");
  return h("table", { class: "identities" },
    h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col", i18n: "upload.inFile" }), h("th", { scope: "col", i18n: "upload.inCase" }))),
    h("tbody", {}, ROWS.map(([key, label, value]) => {
      const file = value(result.object_patient);
      const ours = value(result.case_patient);
      const differs = String(file ?? "").toUpperCase() !== String(ours ?? "").toUpperCase();
      return h("tr", { "data-field": key, "data-differs": String(differs) },
        h("th", { scope: "row", i18n: label }),
        h("td", { "data-side": "file" }, file ?? missing),
        h("td", { "data-side": "case" }, ours ?? missing));
    })));
}

export class UploadResults {
  // url: where the files go; onFiled: called after a confirmed file is stored.
  constructor({ url, onFiled = () => {}, progress = null }) {
    this.url = url;
    this.onFiled = onFiled;
    this.progress = progress;
    this.counts = h("p", { class: "upload-counts", role: "status" });
    this.list = h("ul", { class: "upload-results", "aria-live": "polite" });
    this.root = h("div", { class: "upload-verdicts" }, this.counts, this.list);
    this.items = []; // {result, file, li}
  }

  // body: the server's answer to the upload of `files` (in the order they were sent).
  show(body, files) {
    this.items = [];
    this.list.replaceChildren();
    this.error = body.error ?? null;
    (body.results ?? []).forEach((result, i) => this.add(result, files[i] ?? null));
    if (this.error) this.list.append(h("li", { "data-status": "refused" }, `${t("upload.failed")}: ${this.error}`));
    this.count();
  }

  add(result, file, after = null) {
    const item = { result, file, li: this.render(result, file) };
    if (after) {
      after.li.replaceWith(item.li);
      this.items[this.items.indexOf(after)] = item;
    } else {
      this.list.append(item.li);
      this.items.push(item);
    }
    return item;
  }

  render(result, file) {
    const name = h("strong", { class: "file" }, result.file);
    if (result.status === "discarded") {
      return h("li", { "data-status": "discarded" }, name, `: ${t("upload.discarded")}`);
    }
    if (result.status === "accepted") {
      return h("li", { "data-status": "accepted" }, name, `: ${t("imaging.accepted")}`);
    }
    if (result.status !== "held") {
      return h("li", { "data-status": "refused", "data-code": result.code ?? "" }, name, `: ${t("imaging.refused")} — `, ...reasonOf(result));
    }
    const heading = h("p", { class: "held-title", id: `held-${Math.random().toString(36).slice(2)}` }, name, `: ${t("upload.held")}`);
    const li = h("li", { "data-status": "held", role: "group", "aria-labelledby": heading.id }, heading,
      h("p", { i18n: "upload.heldWhy" }), comparison(result));
    const actions = h("div", { class: "actions" },
      h("button", { type: "button", class: "danger", "data-action": "confirm", i18n: "upload.confirm", disabled: !file && !result.upload, onclick: () => this.confirm(li) }),
      h("button", { type: "button", "data-action": "discard", i18n: "upload.discard", onclick: () => this.discard(li) }));
    li.append(actions);
    return li;
  }

  itemOf(li) {
    return this.items.find((item) => item.li === li);
  }

  // The held upload named again with confirm_patient (or, without one, the same File
  // sent again with it): the uploader's decision.
  async confirm(li) {
    const item = this.itemOf(li);
    if (!item?.result.upload && !item?.file) return;
    for (const button of li.querySelectorAll("button")) button.disabled = true;
    const body = item.result.upload
      ? await confirmUploads(this.url, [item.result.upload])
      : await uploadFiles(this.url, [item.file], { progress: this.progress, fields: { confirm_patient: "yes" } });
    const result = body.results?.[0] ?? { file: item.result.file, status: "refused", reason: body.error ?? t("upload.failed") };
    this.add(result, item.file, item);
    this.count();
    if (result.status === "accepted") await this.onFiled(result);
  }

  discard(li) {
    const item = this.itemOf(li);
    if (!item) return;
    // Nothing was filed: the server's copy of the upload goes, and the File is forgotten.
    if (item.result.upload) discardUpload(item.result.upload);
    this.add({ ...item.result, status: "discarded" }, null, item);
    this.count();
  }

  count() {
    const n = Object.fromEntries(STATUSES.map((s) => [s, this.items.filter((i) => i.result.status === s).length]));
    this.counts.hidden = !this.items.length;
    this.counts.replaceChildren(...STATUSES.map((s, i) => [i ? " · " : "", h("span", { "data-count": s }, `${t(`upload.count.${s}`)}: ${n[s]}`)]).flat());
  }

  // Redraw in the new language (what is shown is kept).
  relabel() {
    for (const item of [...this.items]) this.add(item.result, item.file, item);
    if (this.items.length) this.count();
  }
}
