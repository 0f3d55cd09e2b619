// The staff dashboard: a district clinician opens requests and follows them live;
// a specialist goes on call, sees incoming requests and accepts or declines them.

import { api, uploadFiles } from "./api.js";
import { h, clear, label } from "./dom.js";
import { t } from "./i18n.js";
import { on } from "./realtime.js";

// No "training": a training is held from the trainings section (POST /api/trainings),
// never requested as a consultation, and it never names a patient.
const KINDS = ["clinical_consultation", "medical_advice", "imaging_consultation", "pathology_consultation", "surgery_consultation"];
const SPECIALTIES = ["cardiology", "radiology", "neurology", "obstetrics", "pathology", "surgery", "infectious_disease", "pediatrics", "oncology", "internal_medicine", "emergency"];
const URGENCIES = ["urgent", "emergency", "routine"];
const SEXES = ["female", "male", "other", "unknown"];

function select(name, values, prefix) {
  return h("select", { name, required: true }, values.map((v) => h("option", { value: v, i18n: `${prefix}.${v}` })));
}

// A 400 names the field ("question: String should have at most 4000 characters").
// Its label and the kind of problem are shown in the page's language; a message
// not recognised here is shown as the server wrote it.
const FIELD_MESSAGES = [
  [/POST \/api\/trainings/, "request.error.training"],
  [/Field required|at least 1 character|should not be blank/i, "request.error.required"],
  [/at most (\d+) character/i, "request.error.tooLong"],
  [/should match pattern|control character/i, "request.error.characters"],
  [/Input should be|not a valid/i, "request.error.choice"],
];

function fieldMessage(err) {
  const found = FIELD_MESSAGES.find(([pattern]) => pattern.test(err.message));
  if (!found) return err.message;
  const count = found[0].exec(err.message)?.[1];
  return t(found[1]).replace("{n}", count ?? "");
}

function beep() {
  // An audible alert for a new request; browsers may refuse before a user gesture.
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.25);
  } catch {
    /* no sound is not an error */
  }
}

export class Home {
  constructor(root, user) {
    this.root = root;
    this.user = user;
    this.offs = [];
    this.mine = new Map();
    this.queue = new Map();
    this.notes = new Map(); // consultation id -> last live note (escalated, declined ...)
  }

  async start() {
    clear(this.root);
    const specialist = this.user.role === "specialist";
    if (specialist) this.root.append(this.renderOnCall(), this.queueSection());
    if (["doctor", "nurse", "trainer"].includes(this.user.role)) this.root.append(this.requestForm());
    this.root.append(this.trainingsSection());
    this.mineList = h("ul", { class: "list", "aria-live": "polite" });
    this.root.append(h("section", { class: "card" }, h("h2", { i18n: "mine.title" }), this.mineList));
    this.listen();
    await this.refresh();
  }

  listen() {
    const o = (event, fn) => this.offs.push(on(event, fn));
    o("consult.status", (c) => {
      if (c.escalated) this.notes.set(c.id, `${t("mine.escalated")} (${t("mine.ring")} ${c.ring})`);
      this.mine.set(c.id, c);
      this.renderMine();
    });
    o("consult.accepted", (c) => {
      this.notes.set(c.id, `${t("mine.acceptedBy")} ${c.accepted_by.name}`);
      this.mine.set(c.id, c);
      this.renderMine();
    });
    o("consult.declined", (d) => {
      this.notes.set(d.id, `${t("mine.declinedBy")} ${d.by.name}: ${d.reason}`);
      this.renderMine();
    });
    o("consult.offer", (c) => {
      this.queue.set(c.id, c);
      this.renderQueue(true);
    });
    o("consult.taken", (c) => {
      this.queue.delete(c.id);
      this.renderQueue();
    });
    o("consult.invited", () => this.refresh());
  }

  async refresh() {
    const { consultations } = await api("GET", "/api/consultations");
    this.mine = new Map(consultations.map((c) => [c.id, c]));
    this.renderMine();
    if (this.user.role === "specialist") {
      const { consultations: offered } = await api("GET", "/api/consultations/queue");
      this.queue = new Map(offered.map((c) => [c.id, c]));
      this.renderQueue();
    }
  }

  trainingsSection() {
    const list = h("ul", { class: "list", id: "trainings" });
    const section = h("section", { class: "card" }, h("h2", { i18n: "train.title" }), list);
    api("GET", "/api/trainings").then(({ trainings }) => {
      if (!trainings.length) list.append(h("li", { i18n: "train.none" }));
      for (const tr of trainings) {
        list.append(h("li", {}, h("strong", {}, tr.question), " ", h("a", { href: `#/trainings/${tr.id}`, class: "button", i18n: "join" })));
      }
    });
    if (["trainer", "specialist"].includes(this.user.role)) {
      const title = h("input", { maxlength: 300, required: true });
      const form = h("form", { class: "inline", id: "training-form" }, ...label("train.newTitle", title), h("button", { type: "submit", class: "primary", i18n: "train.start" }));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const { training } = await api("POST", "/api/trainings", { title: title.value });
        location.hash = `#/trainings/${training.id}`;
      });
      section.append(form);
    }
    return section;
  }

  renderOnCall() {
    const box = h("input", { type: "checkbox", role: "switch", id: "on-call", checked: this.user.on_call });
    box.addEventListener("change", async () => {
      await api("PUT", "/api/me/on-call", { on_call: box.checked });
      await this.refresh();
    });
    return h("section", { class: "card oncall" }, h("label", { for: "on-call" }, box, " ", h("span", { i18n: "oncall.label" })));
  }

  queueSection() {
    this.queueList = h("ul", { class: "list", id: "queue" });
    this.alert = h("p", { class: "alert", role: "alert" });
    return h("section", { class: "card" }, h("h2", { i18n: "queue.title" }), this.alert, this.queueList);
  }

  renderQueue(fresh = false) {
    if (!this.queueList) return;
    clear(this.queueList);
    if (fresh) {
      this.alert.textContent = t("queue.new");
      beep();
    }
    if (!this.queue.size) this.queueList.append(h("li", { i18n: "queue.empty" }));
    for (const c of this.queue.values()) {
      const reason = h("input", { maxlength: 500 });
      const decline = h(
        "form",
        {
          class: "inline",
          onsubmit: async (event) => {
            event.preventDefault();
            await api("POST", `/api/consultations/${c.id}/decline`, { reason: reason.value });
            this.queue.delete(c.id);
            this.renderQueue();
          },
        },
        ...label("queue.reason", reason),
        h("button", { type: "submit", i18n: "queue.decline" }),
      );
      this.queueList.append(
        h(
          "li",
          { class: `request urgency-${c.urgency}`, "data-id": c.id },
          h("strong", { i18n: `urgency.${c.urgency}` }),
          " · ",
          h("span", { i18n: `spec.${c.specialty}` }),
          " · ",
          h("span", { i18n: `kind.${c.kind}` }),
          h("p", {}, c.question),
          h("button", {
            type: "button",
            class: "primary",
            i18n: "queue.accept",
            onclick: async () => {
              try {
                await api("POST", `/api/consultations/${c.id}/accept`, {});
                location.hash = `#/consultations/${c.id}`;
              } catch (err) {
                this.alert.textContent = `${t("queue.taken")}: ${err.message}`;
                this.queue.delete(c.id);
                this.renderQueue();
              }
            },
          }),
          decline,
        ),
      );
    }
  }

  requestForm() {
    const form = h("form", { id: "request-form", class: "card grid-form" });
    const kind = select("kind", KINDS, "kind");
    const specialty = select("specialty", SPECIALTIES, "spec");
    const urgency = select("urgency", URGENCIES, "urgency");
    const identifier = h("input", { name: "identifier", required: true, maxlength: 64 });
    const name = h("input", { name: "full_name", required: true, maxlength: 200, autocomplete: "off" });
    const sex = select("sex", SEXES, "sex");
    const dob = h("input", { name: "date_of_birth", type: "date" });
    const question = h("textarea", { name: "question", required: true, maxlength: 4000, rows: 3 });
    const files = h("input", { type: "file", multiple: true, name: "files" });
    const progress = h("progress", { max: 100, value: 0, hidden: true });
    const result = h("p", { role: "status", "aria-live": "polite" });
    form.append(
      h("h2", { i18n: "request.title" }),
      ...label("request.kind", kind),
      ...label("request.specialty", specialty),
      ...label("request.urgency", urgency),
      h("fieldset", {}, h("legend", { i18n: "request.patient" }),
        ...label("request.patientId", identifier),
        ...label("request.patientName", name),
        ...label("request.patientSex", sex),
        ...label("request.patientDob", dob)),
      ...label("request.question", question),
      ...label("request.attachments", files),
      progress,
      h("button", { type: "submit", class: "primary", i18n: "request.submit" }),
      result,
    );
    result.id = "request-result";
    // The body fields the server may name, and the control (and label) for each.
    const controls = { kind, specialty, urgency, question, patient_id: identifier, identifier, full_name: name, sex, date_of_birth: dob };
    const labels = { kind: "request.kind", specialty: "request.specialty", urgency: "request.urgency", question: "request.question", patient_id: "request.patientId", identifier: "request.patientId", full_name: "request.patientName", sex: "request.patientSex", date_of_birth: "request.patientDob" };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      result.textContent = "";
      for (const control of Object.values(controls)) {
        control.removeAttribute("aria-invalid");
        control.removeAttribute("aria-describedby");
      }
      try {
        const patientId = await this.patientId(identifier.value.trim(), name.value.trim(), sex.value, dob.value);
        const { consultation } = await api("POST", "/api/consultations", {
          kind: kind.value,
          specialty: specialty.value,
          urgency: urgency.value,
          question: question.value,
          patient_id: patientId,
        });
        this.mine.set(consultation.id, consultation);
        this.renderMine();
        result.textContent = t("request.sent");
        question.value = "";
        if (files.files.length) {
          // Into the patient's case file, so the specialist has them when joining.
          const verdicts = await this.attach(consultation.id, files.files, progress);
          result.textContent = `${t("request.sent")} ${verdicts}`;
          files.value = "";
        }
      } catch (err) {
        const control = controls[err.field];
        if (!control) {
          result.textContent = err.message;
          return;
        }
        result.textContent = `${t(labels[err.field])}: ${fieldMessage(err)}`;
        result.dataset.field = err.field;
        control.setAttribute("aria-invalid", "true");
        control.setAttribute("aria-describedby", result.id);
        control.focus();
      }
    });
    return form;
  }

  async attach(consultationId, fileList, progress) {
    const caseFile = await api("GET", `/api/consultations/${consultationId}/case-file`);
    const url = `/api/case-files/${caseFile.id}/attachments?consultation=${encodeURIComponent(consultationId)}`;
    const body = await uploadFiles(url, fileList, { progress });
    return (body.results ?? []).map((r) => `${r.file}: ${r.status === "accepted" ? t("imaging.accepted") : `${t("imaging.refused")} — ${r.reason}`}`).join("; ");
  }

  async patientId(identifier, fullName, sex, dob) {
    const { patients } = await api("GET", `/api/patients?identifier=${encodeURIComponent(identifier)}`);
    if (patients.length) return patients[0].id;
    const { patient } = await api("POST", "/api/patients", {
      identifier,
      full_name: fullName,
      sex,
      date_of_birth: dob || null,
    });
    return patient.id;
  }

  renderMine() {
    clear(this.mineList);
    if (!this.mine.size) this.mineList.append(h("li", { i18n: "mine.empty" }));
    const items = [...this.mine.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    for (const c of items) {
      const canJoin = c.status === "live" || c.status === "scheduled";
      this.mineList.append(
        h(
          "li",
          { class: "consultation", "data-id": c.id, "data-status": c.status },
          h("span", { i18n: `spec.${c.specialty}` }),
          " · ",
          h("span", { class: "status", i18n: `status.${c.status}` }),
          c.status === "requested" ? ` · ${t("mine.ring")} ${c.ring}` : "",
          this.notes.has(c.id) ? h("p", { class: "note" }, this.notes.get(c.id)) : null,
          canJoin ? h("a", { href: `#/consultations/${c.id}`, class: "button", i18n: "join" }) : null,
        ),
      );
    }
  }

  stop() {
    this.offs.forEach((off) => off());
  }
}
