// The patient's own view in the room: what the clinicians shared with them.
// Read with the room session token, since a patient has no account.

import { h, clear } from "./dom.js";
import { t } from "./i18n.js";
import { on } from "./realtime.js";

export class PatientFilePanel {
  constructor(root, { token }) {
    this.root = root;
    this.token = token;
    this.offs = [on("casefile.updated", () => this.load().catch(() => {}))];
  }

  async start() {
    this.list = h("div", { class: "shared" });
    this.root.append(h("h2", { i18n: "patientfile.title" }), this.list);
    await this.load().catch(() => {});
  }

  async get(path) {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token()}` } });
    if (!response.ok) throw new Error(response.statusText);
    return response;
  }

  async load() {
    const data = await (await this.get("/api/patient/case-file")).json();
    clear(this.list);
    if (!data.documents.length && !data.attachments.length) {
      this.list.append(h("p", { i18n: "patientfile.empty" }));
      return;
    }
    for (const d of data.documents) {
      const fields = Object.entries(d.body).filter(([, v]) => v !== null && v !== "");
      this.list.append(
        h("article", { class: "document" },
          h("h3", { i18n: `case.kind.${d.kind}` }),
          h("dl", {}, fields.flatMap(([k, v]) => [h("dt", { i18n: `case.field.${k}` }), h("dd", {}, String(v))]))),
      );
    }
    const files = h("ul", { class: "attachments" });
    for (const a of data.attachments) {
      files.append(h("li", {}, h("button", {
        type: "button",
        onclick: async () => {
          // A link cannot carry the token in a header: fetch, then hand the browser a blob.
          const blob = await (await this.get(`/api/patient/case-file/attachments/${a.id}`)).blob();
          const link = h("a", { href: URL.createObjectURL(blob), download: a.filename });
          link.click();
          setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
        },
      }, `${t("patientfile.download")} ${a.filename}`)));
    }
    if (data.attachments.length) this.list.append(files);
  }

  stop() {
    this.offs.forEach((off) => off());
  }
}
