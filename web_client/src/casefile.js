// The case file panel of a consultation room: the patient, the documents (with
// sign-off of the conclusion), notes written in SOAP form, and attachments with
// an upload progress bar. Other participants' changes appear live.

import { api, uploadFiles } from "./api.js";
import { h, clear, label, verdicts } from "./dom.js";
import { t } from "./i18n.js";
import { on } from "./realtime.js";

const SOAP = ["subjective", "objective", "assessment", "plan"];
const CONCLUSION = ["diagnosis", "recommendations", "treatment_plan", "follow_up"];

export class CaseFilePanel {
  constructor(root, { consultationId, me }) {
    this.root = root;
    this.consultationId = consultationId;
    this.me = me;
    this.offs = [on("casefile.updated", () => this.load().catch(() => {}))];
  }

  async start() {
    this.body = h("div", { class: "casefile-body" });
    this.status = h("p", { role: "status", "aria-live": "polite" });
    this.root.append(h("h2", { i18n: "case.title" }), this.status, this.body);
    try {
      await this.load();
    } catch (err) {
      this.status.textContent = err.message; // e.g. a consultation without a patient
    }
  }

  async load() {
    const data = await api("GET", `/api/consultations/${this.consultationId}/case-file`);
    this.caseFile = data;
    if (!data.id) {
      clear(this.body).append(h("p", { i18n: "case.none" }));
      return;
    }
    const p = data.patient;
    clear(this.body).append(
      h("p", { class: "patient" }, h("strong", {}, p.full_name), ` · ${p.identifier}`, p.date_of_birth ? ` · ${p.date_of_birth}` : ""),
      h("ul", { class: "documents" }, data.documents.map((d) => this.documentItem(d))),
      h("h3", { i18n: "case.attachments" }),
      h("ul", { class: "attachments" }, data.attachments.map((a) =>
        h("li", {}, h("a", { href: `/api/case-files/${data.id}/attachments/${a.id}`, download: a.filename }, a.filename), ` (${Math.ceil(a.size / 1024)} KB) `,
          this.shareButton(`/api/case-files/${data.id}/attachments/${a.id}/shared`, a.shared_with_patient, a.filename)))),
      this.uploadForm(),
      this.documentForm("note", SOAP, "case.addNote"),
      this.documentForm("conclusion", CONCLUSION, "case.addConclusion"),
      h("p", {}, h("a", { href: `/api/consultations/${this.consultationId}/summary.html`, target: "_blank", rel: "noopener", i18n: "case.print" })),
    );
  }

  documentItem(d) {
    const fields = Object.entries(d.body).filter(([, v]) => v !== null && v !== "");
    const item = h(
      "li",
      { class: `document kind-${d.kind}`, "data-document": d.document },
      h("strong", { i18n: `case.kind.${d.kind}` }),
      ` v${d.version} · ${d.author ?? ""}`,
      h("dl", {}, fields.flatMap(([k, v]) => [h("dt", { i18n: `case.field.${k}` }), h("dd", {}, String(v))])),
    );
    item.append(this.shareButton(`/api/case-files/${this.caseFile.id}/documents/${d.document}/shared`, d.shared_with_patient, t(`case.kind.${d.kind}`)));
    if (d.kind === "conclusion") {
      const names = d.signed_by.map((s) => s.name).join(", ");
      item.append(h("p", { class: "signatures" }, `${t("case.signedBy")}: ${names || t("none")}`));
      item.append(h("button", {
        type: "button",
        i18n: "case.sign",
        onclick: async () => {
          try {
            await api("POST", `/api/case-files/${this.caseFile.id}/documents/${d.document}/versions/${d.version}/signatures`);
            await this.load();
          } catch (err) {
            this.status.textContent = err.message;
          }
        },
      }));
    }
    return item;
  }

  shareButton(url, shared, what) {
    // Pressed means the patient sees it (this version; a later edit needs sharing again).
    return h("button", {
      type: "button",
      class: "share",
      "aria-pressed": String(!!shared),
      "aria-label": `${t("case.share")}: ${what}`,
      i18n: "case.share",
      onclick: async () => {
        try {
          await api("PUT", url, { shared: !shared });
          await this.load();
        } catch (err) {
          this.status.textContent = err.message;
        }
      },
    });
  }

  documentForm(kind, fields, title) {
    const controls = fields.map((f) => [f, h("textarea", { rows: 2, maxlength: 5000, name: f })]);
    const form = h("form", { class: "grid-form", "data-kind": kind },
      h("h3", { i18n: title }),
      ...controls.flatMap(([f, c]) => label(`case.field.${f}`, c)),
      h("button", { type: "submit", i18n: "case.save" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { kind };
      for (const [f, c] of controls) body[f] = c.value;
      try {
        await api("POST", `/api/case-files/${this.caseFile.id}/documents`, { consultation_id: this.consultationId, body });
        await this.load();
      } catch (err) {
        this.status.textContent = err.message;
      }
    });
    return form;
  }

  uploadForm() {
    const input = h("input", { type: "file", multiple: true });
    const progress = h("progress", { max: 100, value: 0, hidden: true });
    const results = h("ul", { class: "upload-results" });
    input.addEventListener("change", async () => {
      if (!input.files.length) return;
      const url = `/api/case-files/${this.caseFile.id}/attachments?consultation=${encodeURIComponent(this.consultationId)}`;
      const body = await uploadFiles(url, input.files, { progress });
      input.value = "";
      await this.load();
      this.body.querySelector(".case-upload .upload-results")?.replaceChildren(...verdicts(body));
    });
    return h("div", { class: "case-upload" }, ...label("case.upload", input), progress, results);
  }

  stop() {
    this.offs.forEach((off) => off());
  }
}
