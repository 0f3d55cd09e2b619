// The imaging panel of a consultation room: upload DICOM into the case file, pick a
// series, and look at it together. The presenter drives (slice, window, zoom, cine);
// everyone else follows the shared view state. Only state travels over the socket:
// each browser fetches its own (cached) renditions over HTTP.

import { api, uploadFiles } from "./api.js";
import { h, clear, label, verdicts } from "./dom.js";
import { t } from "./i18n.js";
import { attachCalipers, drawEcg } from "./ecg.js";
import { call, on } from "./realtime.js";

const PRESETS = ["file", "brain", "soft_tissue", "lung", "bone"];

export class ImagingPanel {
  constructor(root, { consultationId, me, participants, views = [] }) {
    this.root = root;
    this.consultationId = consultationId;
    this.me = me;
    this.participants = participants; // the room's Map, kept current by the room
    this.objects = new Map(); // series uid or instance uid -> {kind, series?, instance?}
    this.state = null; // the view state shown
    this.cineTimer = null;
    this.initialViews = views;
    this.offs = [
      on("view.state", (state) => this.show(state)),
      on("view.closed", ({ object_id: id }) => {
        if (this.state?.object_id === id) this.clearViewer();
      }),
    ];
  }

  async start() {
    const input = h("input", { type: "file", multiple: true, accept: ".dcm,application/dicom" });
    this.progress = h("progress", { max: 100, value: 0, hidden: true });
    this.results = h("ul", { class: "upload-results", "aria-live": "polite" });
    this.library = h("div", { class: "library" });
    this.viewer = h("div", { class: "viewer", "aria-live": "polite" });
    input.addEventListener("change", () => this.upload(input.files).finally(() => (input.value = "")));
    this.root.append(
      h("h2", { i18n: "imaging.title" }),
      h("div", { class: "upload" }, ...label("imaging.upload", input), this.progress),
      this.results,
      this.library,
      this.viewer,
    );
    await this.refresh();
    const latest = this.initialViews.at(-1);
    if (latest) this.show(latest);
  }

  async upload(files) {
    if (!files.length) return;
    const body = await uploadFiles(`/api/consultations/${this.consultationId}/imaging`, files, { field: "file", progress: this.progress });
    clear(this.results).append(...verdicts(body));
    await this.refresh();
  }

  async refresh() {
    const { studies } = await api("GET", `/api/consultations/${this.consultationId}/imaging`);
    clear(this.library);
    for (const study of studies) {
      for (const series of study.series) {
        const first = series.instances[0];
        if (!first) continue;
        const single = series.instances.length === 1 && first.kind !== "image";
        const id = single ? first.sop_uid : series.series_uid;
        this.objects.set(id, single ? { kind: first.kind, instance: first } : { kind: "series", series });
        this.library.append(
          h(
            "button",
            { type: "button", class: "series", "data-object": id, onclick: () => this.open(id, single ? "instance" : "series") },
            first.kind === "ecg" ? h("span", { class: "ecg-icon", "aria-hidden": "true" }, "⌁") : h("img", { src: series.thumbnail, alt: "", loading: "lazy", width: 64, height: 64 }),
            h("span", {}, `${series.modality ?? ""} ${series.description ?? ""} (${series.instances.length})`),
          ),
        );
      }
    }
  }

  async open(objectId, kind) {
    const { state } = await call("view.open", { object_id: objectId, kind });
    this.show(state);
  }

  presenting() {
    return this.state?.presenter === this.me;
  }

  async change(update) {
    // Only the presenter sends; versions let the server drop what arrives late.
    if (!this.presenting()) return;
    // Numbered here, not from the last answer: a drag sends faster than answers return.
    this.version = Math.max(this.version ?? 0, this.state.version) + 1;
    const answer = await call("view.update", { object_id: this.state.object_id, update: { ...update, version: this.version } });
    this.show(answer.state);
  }

  show(state) {
    if (this.state && state.object_id === this.state.object_id && state.version < this.state.version) return;
    const object = this.objects.get(state.object_id);
    if (!object) {
      // Shown by someone who uploaded it after our list was read: read it again.
      return this.refresh().then(() => this.objects.has(state.object_id) && this.show(state));
    }
    const switched = this.state?.object_id !== state.object_id;
    this.state = state;
    if (switched) this.renderViewer(object);
    this.update(object);
  }

  clearViewer() {
    clearInterval(this.cineTimer);
    this.state = null;
    clear(this.viewer);
  }

  renderViewer(object) {
    clearInterval(this.cineTimer);
    clear(this.viewer);
    this.presenterEl = h("p", { class: "presenter" });
    this.controlsEl = h("div", { class: "viewer-controls" });
    this.stage = h("div", { class: "viewer-stage" });
    this.viewer.append(this.presenterEl, this.stage, this.controlsEl);
    if (object.kind === "ecg") {
      this.canvas = h("canvas", { class: "ecg", role: "img", "aria-label": t("imaging.ecg") });
      const reading = h("output", { class: "caliper-reading", "aria-live": "polite" });
      this.stage.append(h("div", { class: "ecg-paper" }, this.canvas));
      this.controlsEl.append(h("span", { i18n: "imaging.calipers" }), " ", reading);
      api("GET", `/api/imaging/instances/${object.instance.sop_uid}/ecg`).then((ecg) => {
        drawEcg(this.canvas, ecg);
        attachCalipers(this.canvas, reading);
      });
      return;
    }
    this.image = h("img", { class: "slice", alt: t("imaging.slice"), draggable: "false" });
    // Measurements are drawn in image pixels over the picture, and move with it.
    this.marks = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.marks.classList.add("marks");
    this.sliceWrap = h("div", { class: "slice-wrap" }, this.image, this.marks);
    this.stage.append(this.sliceWrap);
    this.image.addEventListener("load", () => {
      this.marks.setAttribute("viewBox", `0 0 ${this.image.naturalWidth} ${this.image.naturalHeight}`);
    });
    this.sliceWrap.addEventListener("click", (event) => this.measureClick(event));
    this.dragging(this.sliceWrap);
    this.stage.addEventListener("wheel", (event) => {
      if (!this.presenting()) return;
      event.preventDefault();
      const frame = Math.min(this.state.frames - 1, Math.max(0, this.state.frame + Math.sign(event.deltaY)));
      if (frame !== this.state.frame) this.change({ frame });
    }, { passive: false });
    this.slider = h("input", { type: "range", min: 0, max: this.state.frames - 1, value: 0, id: "slice-slider" });
    this.slider.addEventListener("input", () => this.change({ frame: Number(this.slider.value) }));
    this.preset = h("select", { id: "window-preset" }, PRESETS.map((p) => h("option", { value: p, i18n: `preset.${p}` })));
    this.preset.addEventListener("change", () => this.change({ preset: this.preset.value }));
    const zoom = (factor) => () => this.change({ viewport: { zoom: Math.min(64, Math.max(0.25, this.state.viewport.zoom * factor)), pan: this.state.viewport.pan } });
    const controls = [
      ...label("imaging.sliceLabel", this.slider),
      object.kind === "series" ? label("imaging.window", this.preset) : [],
      h("button", { type: "button", "aria-label": t("imaging.zoomIn"), onclick: zoom(1.25) }, "+"),
      h("button", { type: "button", "aria-label": t("imaging.zoomOut"), onclick: zoom(0.8) }, "−"),
    ].flat();
    this.measureButton = h("button", { type: "button", "aria-pressed": "false", i18n: "imaging.measure", onclick: () => {
      this.measuring = !this.measuring;
      this.pending = null;
      this.measureButton.setAttribute("aria-pressed", String(this.measuring));
    } });
    controls.push(this.measureButton);
    if (object.kind === "cine") {
      const speeds = [0.25, 0.5, 1, 2];
      this.speed = h("select", { id: "cine-speed" }, speeds.map((x) => h("option", { value: String(x), selected: x === 1 }, `${x}×`)));
      this.speed.addEventListener("change", () => {
        const base = object.instance.frame_rate ?? 10;
        this.change({ cine: { playing: this.state.cine.playing, fps: base * Number(this.speed.value) } });
      });
      controls.push(...label("imaging.speed", this.speed));
      this.play = h("button", { type: "button", onclick: () => this.change({ cine: { playing: !this.state.cine.playing, fps: this.state.cine.fps } }) });
      controls.push(this.play);
    }
    this.controlsEl.append(...controls);
  }

  dragging(surface) {
    // Drag (a finger on a phone, or the mouse) up and down to move through the
    // slices; with Ctrl held, drag to set the window (sideways width, up-down centre).
    let last = null;
    let carried = 0;
    surface.style.touchAction = "none";
    surface.addEventListener("pointerdown", (event) => {
      if (this.measuring || !this.presenting()) return;
      last = { x: event.clientX, y: event.clientY, window: event.ctrlKey };
      carried = 0;
      surface.setPointerCapture(event.pointerId);
    });
    surface.addEventListener("pointermove", (event) => {
      if (!last) return;
      const dx = event.clientX - last.x;
      const dy = event.clientY - last.y;
      if (last.window) {
        const w = this.state.window ?? { center: 40, width: 400 };
        this.change({ window: { center: w.center + dy * 2, width: Math.max(1, w.width + dx * 4) } });
        last = { ...last, x: event.clientX, y: event.clientY };
        return;
      }
      carried += dy;
      const steps = Math.trunc(carried / 8);
      if (steps !== 0) {
        carried -= steps * 8;
        const frame = Math.min(this.state.frames - 1, Math.max(0, this.state.frame + steps));
        if (frame !== this.state.frame) this.change({ frame });
      }
      last = { ...last, x: event.clientX, y: event.clientY };
    });
    const stop = () => (last = null);
    surface.addEventListener("pointerup", stop);
    surface.addEventListener("pointercancel", stop);
  }

  measureClick(event) {
    if (!this.measuring || !this.presenting() || !this.image.naturalWidth) return;
    const box = this.sliceWrap.getBoundingClientRect();
    const point = {
      x: ((event.clientX - box.left) / box.width) * this.image.naturalWidth,
      y: ((event.clientY - box.top) / box.height) * this.image.naturalHeight,
    };
    if (!this.pending) {
      this.pending = point;
      return;
    }
    // The server computes the length in mm from the pixel spacing.
    const line = { kind: "length", id: `m${Date.now()}`, frame: this.state.frame, start: this.pending, end: point };
    this.pending = null;
    this.change({ annotations: [...this.state.annotations, line] });
  }

  drawMarks() {
    const svgNs = "http://www.w3.org/2000/svg";
    while (this.marks.firstChild) this.marks.firstChild.remove();
    this.sliceWrap.querySelectorAll(".mark-label").forEach((el) => el.remove());
    const width = this.image.naturalWidth || 1;
    const height = this.image.naturalHeight || 1;
    for (const a of this.state.annotations ?? []) {
      if (a.kind !== "length" || a.frame !== this.state.frame) continue;
      const line = document.createElementNS(svgNs, "line");
      for (const [k, v] of [["x1", a.start.x], ["y1", a.start.y], ["x2", a.end.x], ["y2", a.end.y]]) line.setAttribute(k, String(v));
      this.marks.append(line);
      // The label is HTML, so it keeps a readable size whatever the image's resolution.
      const label = h("span", { class: "mark-label" }, a.length_mm === null || a.length_mm === undefined ? "?" : `${a.length_mm} mm`);
      label.style.left = `${(((a.start.x + a.end.x) / 2) / width) * 100}%`;
      label.style.top = `${(Math.min(a.start.y, a.end.y) / height) * 100}%`;
      this.sliceWrap.append(label);
    }
  }

  frameUrl(object, frame) {
    if (object.kind === "cine" && object.instance.jpeg_frames) {
      return `/api/imaging/instances/${object.instance.sop_uid}/cine/${frame}`;
    }
    const instance = object.kind === "series" ? object.series.instances[frame] : object.instance;
    const params = new URLSearchParams({ format: "webp" });
    if (object.kind !== "series") params.set("frame", String(frame));
    if (this.state.window) {
      params.set("center", String(this.state.window.center));
      params.set("width", String(this.state.window.width));
    } else if (this.state.preset && this.state.preset !== "file") {
      params.set("preset", this.state.preset);
    }
    return `/api/imaging/instances/${instance.sop_uid}/rendered?${params}`;
  }

  update(object) {
    const state = this.state;
    const presenter = this.participants.get(state.presenter);
    this.presenterEl.textContent = presenter ? `${t("imaging.presenter")}: ${presenter.name}` : t("imaging.noPresenter");
    if (!state.presenter) {
      this.presenterEl.append(" ", h("button", { type: "button", i18n: "imaging.claim", onclick: () => call("view.claim", { object_id: state.object_id }).then((a) => this.show(a.state)) }));
    } else if (this.presenting()) {
      // Hand control to someone else in the room: they drive, everyone follows them.
      const others = [...this.participants.values()].filter((p) => p.id !== this.me);
      if (others.length) {
        const select = h("select", { id: "handover-to" }, others.map((p) => h("option", { value: p.id }, p.name)));
        this.presenterEl.append(" ", ...label("imaging.handover", select), h("button", {
          type: "button",
          i18n: "imaging.handoverButton",
          onclick: () => call("view.handover", { object_id: state.object_id, participant_id: select.value }).then((a) => this.show(a.state)),
        }));
      }
    }
    if (object.kind === "ecg") return;
    this.image.src = this.frameUrl(object, state.frame);
    this.image.dataset.frame = String(state.frame);
    this.sliceWrap.style.transform = `scale(${state.viewport.zoom}) translate(${state.viewport.pan.x}px, ${state.viewport.pan.y}px)`;
    this.drawMarks();
    this.slider.value = String(state.frame);
    this.preset.value = state.preset ?? "file";
    for (const control of this.controlsEl.querySelectorAll("input, select, button")) control.disabled = !this.presenting();
    clearInterval(this.cineTimer);
    if (object.kind === "cine") {
      this.play.textContent = t(state.cine.playing ? "imaging.pause" : "imaging.play");
      if (state.cine.playing && this.presenting()) {
        const fps = state.cine.fps ?? object.instance.frame_rate ?? 10;
        this.cineTimer = setInterval(() => this.change({ frame: (this.state.frame + 1) % this.state.frames }), 1000 / fps);
      }
    }
  }

  stop() {
    clearInterval(this.cineTimer);
    this.offs.forEach((off) => off());
  }
}
