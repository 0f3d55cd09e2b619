// The administrator's screen: live sessions and their health, the network
// (facilities and pairings), staff accounts, and the audit log.

import { api } from "./api.js";
import { h, clear, label } from "./dom.js";
import { t } from "./i18n.js";

const LEVELS = ["central", "provincial", "district", "commune"];
const ROLES = ["doctor", "nurse", "specialist", "trainer", "admin"];
const SPECIALTIES = ["cardiology", "radiology", "neurology", "obstetrics", "pathology", "surgery", "infectious_disease", "pediatrics", "oncology", "internal_medicine", "emergency"];

function table(headers, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((key) => h("th", { scope: "col", i18n: key })))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
  );
}

function form(id, title, fields, submit, onSubmit) {
  const status = h("p", { role: "status", "aria-live": "polite" });
  const el = h("form", { id, class: "grid-form" }, h("h3", { i18n: title }), ...fields.flatMap(([key, control]) => label(key, control)), h("button", { type: "submit", i18n: submit }), status);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    try {
      await onSubmit();
      el.reset();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return el;
}

function options(values, prefix, { empty = false } = {}) {
  return [empty ? h("option", { value: "", i18n: "none" }) : null, ...values.map((v) => h("option", { value: v, i18n: `${prefix}.${v}` }))];
}

export class AdminHome {
  constructor(root) {
    this.root = root;
  }

  async start() {
    clear(this.root);
    this.sessions = h("section", { class: "card", id: "admin-sessions" });
    this.network = h("section", { class: "card", id: "admin-network" });
    this.staff = h("section", { class: "card", id: "admin-staff" });
    this.audit = h("section", { class: "card", id: "admin-audit" });
    this.root.append(this.sessions, this.network, this.staff, this.audit);
    await Promise.all([this.loadSessions(), this.loadNetwork(), this.loadStaff(), this.loadAudit()]);
    this.timer = setInterval(() => this.loadSessions().catch(() => {}), 5000);
  }

  stop() {
    clearInterval(this.timer);
  }

  async loadSessions() {
    const { sessions, waiting_requests: waiting } = await api("GET", "/api/admin/sessions");
    const rows = sessions.map((s) => [
      t(`spec.${s.specialty}`),
      t(`urgency.${s.urgency}`),
      s.started_at ? new Date(s.started_at).toLocaleString() : "",
      String(s.participants),
      String(s.lobby),
      s.media ? `${s.media.peers} / ${s.media.producers} / ${s.media.consumers}` : t("none"),
      s.media ? `${s.media.packets_received} → ${s.media.packets_sent} (${s.media.retransmitted})` : t("none"),
    ]);
    clear(this.sessions).append(
      h("h2", { i18n: "admin.sessions" }),
      h("p", {}, `${t("admin.waiting")}: ${waiting}`),
      rows.length
        ? table(["request.specialty", "request.urgency", "admin.started", "room.participants", "room.lobbyTitle", "admin.media", "admin.packets"], rows)
        : h("p", { i18n: "admin.noSessions" }),
    );
  }

  async loadNetwork() {
    const { facilities, pairings } = await api("GET", "/api/admin/network");
    const code = h("input", { required: true, maxlength: 32 });
    const name = h("input", { required: true, maxlength: 200 });
    const level = h("select", {}, options(LEVELS, "level"));
    const province = h("input", { required: true, maxlength: 100 });
    const central = h("select", {}, facilities.filter((f) => f.level === "central").map((f) => h("option", { value: f.code }, f.name)));
    const partner = h("select", {}, facilities.filter((f) => f.level !== "central").map((f) => h("option", { value: f.code }, f.name)));
    const specialty = h("select", {}, options(SPECIALTIES, "spec", { empty: true }));
    clear(this.network).append(
      h("h2", { i18n: "admin.network" }),
      table(["admin.code", "admin.name", "admin.level", "admin.province"], facilities.map((f) => [f.code, f.name, t(`level.${f.level}`), f.province])),
      table(["admin.central", "admin.partner", "request.specialty"], pairings.map((p) => [p.central, p.partner, p.specialty ? t(`spec.${p.specialty}`) : t("admin.allSpecialties")])),
      h(
        "div",
        { class: "forms" },
        form("facility-form", "admin.addFacility", [["admin.code", code], ["admin.name", name], ["admin.level", level], ["admin.province", province]], "admin.add", async () => {
          await api("POST", "/api/admin/facilities", { code: code.value, name: name.value, level: level.value, province: province.value });
          await this.loadNetwork();
        }),
        form("pairing-form", "admin.addPairing", [["admin.central", central], ["admin.partner", partner], ["request.specialty", specialty]], "admin.add", async () => {
          await api("POST", "/api/admin/pairings", { central: central.value, partner: partner.value, specialty: specialty.value || null });
          await this.loadNetwork();
        }),
      ),
    );
  }

  async loadStaff() {
    const { users } = await api("GET", "/api/admin/users");
    const rows = users.map((u) => [
      u.username,
      u.full_name,
      t(`role.${u.role}`),
      u.facility ?? t("none"),
      u.specialties.map((s) => t(`spec.${s}`)).join(", "),
      h("button", {
        type: "button",
        "aria-label": `${t(u.active ? "admin.disable" : "admin.enable")} ${u.username}`,
        i18n: u.active ? "admin.disable" : "admin.enable",
        onclick: async () => {
          await api("PUT", `/api/admin/users/${encodeURIComponent(u.username)}/active`, { active: !u.active });
          await this.loadStaff();
        },
      }),
    ]);
    const username = h("input", { required: true, maxlength: 64, autocapitalize: "none" });
    const fullName = h("input", { required: true, maxlength: 200 });
    const role = h("select", {}, options(ROLES, "role"));
    const facility = h("input", { maxlength: 32 });
    const password = h("input", { type: "password", required: true, minlength: 10, autocomplete: "new-password" });
    clear(this.staff).append(
      h("h2", { i18n: "admin.staff" }),
      table(["login.username", "admin.name", "home.role", "home.facility", "request.specialty", "admin.account"], rows),
      form("user-form", "admin.addUser", [["login.username", username], ["admin.name", fullName], ["home.role", role], ["admin.code", facility], ["login.password", password]], "admin.add", async () => {
        await api("POST", "/api/admin/users", { username: username.value, full_name: fullName.value, role: role.value, facility: facility.value || null, password: password.value });
        await this.loadStaff();
      }),
    );
  }

  async loadAudit() {
    const { events } = await api("GET", "/api/audit?limit=50");
    clear(this.audit).append(
      h("h2", { i18n: "admin.audit" }),
      table(
        ["admin.when", "admin.who", "admin.action", "admin.object", "admin.outcome"],
        events.map((e) => [new Date(e.at).toLocaleString(), `${e.actor} ${e.ip}`, e.action, e.object_type ? `${e.object_type}:${e.object_id}` : "", e.outcome]),
      ),
    );
  }
}
