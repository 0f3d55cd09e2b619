// The imaging panel of a consultation room: upload DICOM into the case file, pick a
// series, and look at it together. The presenter drives (slice, window, zoom and pan,
// cine, measurements); everyone else follows the shared view state. Only state travels
// over the socket: each browser fetches its own (cached) renditions over HTTP.

import { api, uploadFiles } from "./api.js";
import { h, clear, label } from "./dom.js";
import { t } from "./i18n.js";
import { attachCalipers, drawEcg, ecgNotes } from "./ecg.js";
import { Corners } from "./identity.js";
import { UploadResults } from "./uploads.js";
import { TOOLS, annotationOf, drawMarks, drawPending, formatNumber } from "./marks.js";
import { call, on } from "./realtime.js";

const PRESETS = ["file", "brain", "soft_tissue", "lung", "bone"];
const SPEEDS = [0.25, 0.5, 1, 2];
const PAGE = 10; // slices per PageUp / PageDown
const DRAG_STEP_PX = 8; // a drag this long moves one slice
const ZOOM_STEP = 1.25;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
// aria-keyshortcuts of the viewing area (the visible list is keyHelp)
const keyShortcuts = (kind) => [
  "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "PageUp", "PageDown", "Home", "End",
  ...(kind === "cine" ? ["Space"] : []),
  ...(kind === "series" ? ["1", "2", "3", "4", "5"] : []),
  "+", "-", "0", "Shift+ArrowUp", "Shift+ArrowDown", "Shift+ArrowLeft", "Shift+ArrowRight",
  "P", "L", "A", "E", "R", "Escape", "Delete",
].join(" ");

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const clampZoom = (zoom) => clamp(zoom, 0.25, 64);
const midpoint = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
const distance = (a, b) => Math.hypot(a.x - b.x, a.y - b.y) || 1;
const kbd = (text) => h("kbd", {}, text);

export class ImagingPanel {
  constructor(root, { consultationId, me, participants, views = [] }) {
    this.root = root;
    this.consultationId = consultationId;
    this.me = me;
    this.participants = participants; // the room's Map, kept current by the room
    this.objects = new Map(); // series uid or instance uid -> {kind, series?, instance?}
    this.state = null; // the view state shown
    this.object = null; // what it shows
    this.cineTimer = null;
    this.tool = null; // null: dragging scrolls; else a key of TOOLS
    this.pending = []; // the clicks of a measurement in progress
    this.queued = null; // the presenter's next update, merged (see queue)
    this.sending = null; // the update on its way
    this.initialViews = views;
    const relayout = () => this.state && this.image && this.applyView();
    const relabel = () => {
      this.uploads?.relabel();
      if (this.corners) this.corners.identify(this.corners.study, this.corners.casePatient);
      if (this.ecg) this.showEcg();
      if (this.state && this.object) this.update(this.object);
    };
    window.addEventListener("resize", relayout);
    document.addEventListener("languagechange", relabel);
    this.offs = [
      on("view.state", (state) => this.show(state)),
      on("view.closed", ({ object_id: id }) => {
        if (this.state?.object_id === id) this.clearViewer();
      }),
      () => window.removeEventListener("resize", relayout),
      () => document.removeEventListener("languagechange", relabel),
    ];
  }

  async start() {
    const input = h("input", { type: "file", multiple: true, accept: ".dcm,application/dicom" });
    this.progress = h("progress", { max: 100, value: 0, hidden: true });
    this.uploads = new UploadResults({ url: this.uploadUrl(), progress: this.progress, onFiled: () => this.refresh() });
    this.library = h("div", { class: "library" });
    this.viewer = h("div", { class: "viewer" });
    this.viewer.addEventListener("keydown", (event) => this.onKey(event));
    input.addEventListener("change", () => this.upload(input.files).finally(() => (input.value = "")));
    this.root.append(
      h("h2", { i18n: "imaging.title" }),
      h("div", { class: "upload" }, ...label("imaging.upload", input), this.progress),
      this.uploads.root,
      this.library,
      this.viewer,
    );
    await this.refresh();
    const latest = this.initialViews.at(-1);
    if (latest) this.show(latest);
  }

  uploadUrl() {
    return `/api/consultations/${this.consultationId}/imaging`;
  }

  async upload(fileList) {
    // Kept: a held file is sent again, as it is, if the uploader confirms it.
    const files = Array.from(fileList);
    if (!files.length) return;
    const body = await uploadFiles(this.uploadUrl(), files, { progress: this.progress });
    this.uploads.show(body, files);
    await this.refresh();
  }

  async refresh() {
    const { studies, case_patient: casePatient } = await api("GET", `/api/consultations/${this.consultationId}/imaging`);
    this.casePatient = casePatient ?? null;
    clear(this.library);
    for (const study of studies) {
      for (const series of study.series) {
        const first = series.instances[0];
        if (!first) continue;
        const single = series.instances.length === 1 && first.kind !== "image";
        const id = single ? first.sop_uid : series.series_uid;
        // Every object knows its study, whose identity the viewer's corners show.
        this.objects.set(id, single ? { kind: first.kind, instance: first, series, study } : { kind: "series", series, study });
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

  // The presenter's changes go through here. While one update is on its way, newer
  // ones merge into the next (each field holds a whole value, the latest wins), so a
  // drag or a cine on a slow link sends fewer updates rather than later ones.
  queue(update) {
    if (!this.presenting()) return;
    this.queued = { ...this.queued, ...update };
    if (!this.sending) this.flush();
  }

  async flush() {
    while (this.queued) {
      this.sending = this.queued;
      this.queued = null;
      try {
        await this.change(this.sending);
      } catch (err) {
        console.warn("view update refused:", err.message);
      }
    }
    this.sending = null;
  }

  // A field as it will be once what is queued and on its way has arrived.
  latest(name) {
    for (const update of [this.queued, this.sending]) {
      if (update && name in update) return update[name];
    }
    return this.state[name];
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
    this.stopCine();
    this.state = null;
    this.object = null;
    clear(this.viewer);
  }

  renderViewer(object) {
    this.stopCine();
    clear(this.viewer);
    this.object = object;
    this.image = null;
    this.tool = null;
    this.pending = [];
    this.queued = null;
    this.ecg = null;
    this.presenterEl = h("p", { class: "presenter" });
    this.controlsEl = h("div", { class: "viewer-controls" });
    this.stage = h("div", { class: "viewer-stage" });
    this.viewer.append(this.presenterEl, this.stage, this.controlsEl);
    // Never an image without whose it is: the corners come with the picture.
    this.corners = new Corners({ band: object.kind === "ecg" });
    this.corners.identify(object.study, this.casePatient);
    if (object.kind === "ecg") {
      this.canvas = h("canvas", { class: "ecg", role: "img", "i18n-label": "imaging.ecg" });
      this.ecgNotes = h("div", { class: "ecg-notes" });
      const reading = h("output", { class: "caliper-reading", "aria-live": "polite" });
      this.stage.classList.add("ecg-stage");
      this.stage.append(this.corners.top, this.ecgNotes, h("div", { class: "ecg-paper" }, this.canvas));
      this.controlsEl.append(h("span", { i18n: "imaging.calipers" }), " ", reading);
      api("GET", `/api/imaging/instances/${object.instance.sop_uid}/ecg`).then((ecg) => {
        this.ecg = ecg;
        this.showEcg();
        attachCalipers(this.canvas, reading);
      });
      return;
    }
    const help = this.keyHelp(object);
    // The viewing area takes the keyboard: focusable, named, its keys listed under it.
    // Described by whose images these are, then by its keys.
    this.corners.top.id = `viewer-identity-${Math.random().toString(36).slice(2)}`;
    const described = `${this.corners.top.id} ${help.querySelector("dl").id}`;
    const named = { tabindex: "0", role: "application", "aria-keyshortcuts": keyShortcuts(object.kind), "aria-describedby": described };
    for (const [key, value] of Object.entries(named)) this.stage.setAttribute(key, value);
    this.stage.dataset.i18nLabel = "imaging.viewer";
    this.stage.setAttribute("aria-label", t("imaging.viewer"));

    this.image = h("img", { class: "slice", alt: t("imaging.slice"), draggable: "false" });
    // Measurements are drawn in image pixels over the picture, and move with it.
    this.marks = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.marks.classList.add("marks");
    this.sliceWrap = h("div", { class: "slice-wrap" }, this.image, this.marks);
    this.stage.append(this.corners.top, this.sliceWrap, this.corners.bottom);
    this.image.addEventListener("load", () => {
      this.marks.setAttribute("viewBox", `0 0 ${this.image.naturalWidth} ${this.image.naturalHeight}`);
      this.applyView();
      this.drawMarks();
    });
    this.stage.addEventListener("click", (event) => this.measureClick(event));
    this.gestures(this.stage);
    this.stage.addEventListener("wheel", (event) => {
      if (!this.presenting()) return;
      event.preventDefault();
      // Ctrl + wheel is also what a trackpad pinch sends.
      if (event.ctrlKey) this.zoomBy(event.deltaY < 0 ? 1.1 : 1 / 1.1);
      else this.goTo(this.latest("frame") + Math.sign(event.deltaY));
    }, { passive: false });

    this.slider = h("input", { type: "range", min: 0, max: this.state.frames - 1, value: 0, id: "slice-slider" });
    this.slider.addEventListener("input", () => this.queue({ frame: Number(this.slider.value) }));
    this.sliceNumber = h("output", { class: "slice-number", for: "slice-slider" });
    this.preset = h("select", { id: "window-preset" }, PRESETS.map((p) => h("option", { value: p, i18n: `preset.${p}` })));
    this.preset.addEventListener("change", () => this.setPreset(this.preset.value));
    const view = h("div", { class: "control-group" },
      h("button", { type: "button", "i18n-label": "imaging.zoomOut", "aria-keyshortcuts": "-", onclick: () => this.zoomBy(1 / ZOOM_STEP) }, "−"),
      h("button", { type: "button", "i18n-label": "imaging.zoomIn", "aria-keyshortcuts": "+", onclick: () => this.zoomBy(ZOOM_STEP) }, "+"),
      h("button", { type: "button", i18n: "imaging.resetView", "aria-keyshortcuts": "0", onclick: () => this.resetView() }),
    );
    this.toolButtons = new Map(Object.entries(TOOLS).map(([name, tool]) => [name, h("button", {
      type: "button",
      "aria-pressed": "false",
      "aria-keyshortcuts": tool.key.toUpperCase(),
      "data-tool": name,
      i18n: tool.i18n,
      onclick: () => this.setTool(name),
    })]));
    this.clearButton = h("button", { type: "button", i18n: "imaging.clearMarks", "aria-keyshortcuts": "Delete", onclick: () => this.clearMarks() });
    const tools = h("div", { class: "control-group tools", role: "group", "i18n-label": "imaging.tools" }, ...this.toolButtons.values(), this.clearButton);
    const rows = [
      h("div", { class: "control-group slices" }, ...label("imaging.sliceLabel", this.slider), this.sliceNumber),
      object.kind === "series" ? h("div", { class: "control-group" }, ...label("imaging.window", this.preset)) : null,
      view,
    ];
    if (object.kind === "cine") {
      const base = object.instance.frame_rate ?? 10;
      this.speed = h("select", { id: "cine-speed" }, SPEEDS.map((x) => h("option", { value: String(x), selected: x === 1 }, `${formatNumber(x, 2, 0)}×`)));
      this.speed.addEventListener("change", () => {
        this.queue({ cine: { playing: this.latest("cine").playing, fps: base * Number(this.speed.value) } });
      });
      this.play = h("button", { type: "button", class: "play", "aria-keyshortcuts": "Space", onclick: () => this.togglePlay() });
      this.rate = h("output", { class: "cine-rate", "aria-live": "off" });
      rows.push(h("div", { class: "control-group cine" }, this.play, ...label("imaging.speed", this.speed), h("span", { i18n: "imaging.rate" }), this.rate));
    }
    rows.push(tools);
    this.hint = h("output", { class: "tool-hint", "aria-live": "polite" });
    this.controlsEl.append(...rows.filter(Boolean));
    this.viewer.append(this.hint, help);
  }

  // The ECG's trace, and above it what cannot be drawn and the paper's scale.
  showEcg() {
    drawEcg(this.canvas, this.ecg);
    this.ecgNotes.replaceChildren(...ecgNotes(this.ecg));
  }

  keyHelp(object) {
    const id = `viewer-keys-${Math.random().toString(36).slice(2)}`;
    const rows = [
      [[kbd("↑"), kbd("↓"), kbd("←"), kbd("→")], "imaging.keys.step"],
      [[kbd("PgUp"), kbd("PgDn")], "imaging.keys.page"],
      [[kbd("Home"), kbd("End")], "imaging.keys.ends"],
      object.kind === "cine" ? [[h("kbd", { i18n: "imaging.keys.space" })], "imaging.keys.play"] : null,
      object.kind === "series" ? [[kbd("1"), "–", kbd("5")], "imaging.keys.presets"] : null,
      [[kbd("+"), kbd("−"), kbd("0")], "imaging.keys.zoom"],
      [[kbd("Shift"), " + ", kbd("↑"), kbd("↓"), kbd("←"), kbd("→")], "imaging.keys.pan"],
      [Object.values(TOOLS).map((tool) => kbd(tool.key.toUpperCase())), "imaging.keys.tools"],
      [[kbd("Esc")], "imaging.keys.escape"],
      [[kbd("Delete")], "imaging.keys.delete"],
    ].filter(Boolean);
    return h("details", { class: "shortcuts" },
      h("summary", { i18n: "imaging.keys.title" }),
      h("dl", { id }, rows.flatMap(([keys, text]) => [h("dt", {}, keys), h("dd", { i18n: text })])),
    );
  }

  // Keyboard ------------------------------------------------------------------

  onKey(event) {
    if (!this.state || !this.image || event.ctrlKey || event.metaKey || event.altKey) return;
    // Form controls keep their own keys (a slider's arrows, a button's space).
    if (event.key !== "Escape" && event.target.closest("input, select, textarea, button, summary, a")) return;
    if (!this.presenting()) return;
    const action = this.keyAction(event);
    if (!action) return;
    event.preventDefault();
    action();
  }

  keyAction(event) {
    const { key } = event;
    const frame = this.latest("frame");
    if (event.shiftKey && ARROWS[key]) {
      const [dx, dy] = ARROWS[key];
      return () => this.panImage(dx / 10, dy / 10);
    }
    const go = (to) => () => this.goTo(to);
    switch (key) {
      case "ArrowDown":
      case "ArrowRight":
        return go(frame + 1);
      case "ArrowUp":
      case "ArrowLeft":
        return go(frame - 1);
      case "PageDown":
        return go(frame + PAGE);
      case "PageUp":
        return go(frame - PAGE);
      case "Home":
        return go(0);
      case "End":
        return go(this.state.frames - 1);
      case " ":
        return this.object.kind === "cine" ? () => this.togglePlay() : null;
      case "+":
      case "=":
        return () => this.zoomBy(ZOOM_STEP);
      case "-":
        return () => this.zoomBy(1 / ZOOM_STEP);
      case "0":
        return () => this.resetView();
      case "Escape":
        return this.tool ? () => this.escape() : null;
      case "Delete":
        return () => this.clearMarks();
      default:
    }
    if (this.object.kind === "series" && /^[1-5]$/.test(key)) return () => this.setPreset(PRESETS[Number(key) - 1]);
    const tool = Object.keys(TOOLS).find((name) => TOOLS[name].key === key.toLowerCase());
    return tool ? () => this.setTool(tool) : null;
  }

  // Presenter actions ---------------------------------------------------------

  goTo(frame) {
    const to = clamp(frame, 0, this.state.frames - 1);
    if (to !== this.latest("frame")) this.queue({ frame: to });
  }

  setPreset(preset) {
    // A preset replaces a window set by dragging.
    this.queue({ preset, window: null });
  }

  togglePlay() {
    const cine = this.latest("cine");
    if (cine.playing) this.stopCine(); // no frame after the pause
    this.queue({ cine: { playing: !cine.playing, fps: cine.fps } });
  }

  zoomBy(factor) {
    const { zoom, pan } = this.latest("viewport");
    this.queue({ viewport: { zoom: clampZoom(zoom * factor), pan } });
  }

  resetView() {
    this.queue({ viewport: { zoom: 1, pan: { x: 0, y: 0 } } });
  }

  // Moves the image by a fraction of its size (the keyboard's Shift + arrows).
  panImage(fx, fy) {
    const { zoom, pan } = this.latest("viewport");
    const k = this.cssPerPixel() * zoom;
    if (!k) return;
    this.queue({ viewport: { zoom, pan: this.panned(pan, fx * this.image.naturalWidth * k, fy * this.image.naturalHeight * k, zoom) } });
  }

  clearMarks() {
    this.cancelPending();
    if (this.latest("annotations").length) this.queue({ annotations: [] });
  }

  setTool(name) {
    this.tool = this.tool === name ? null : name;
    this.cancelPending();
    this.showTool();
  }

  escape() {
    // Esc drops the clicks of a measurement; with none, it puts the tool down.
    if (this.pending.length) this.cancelPending();
    else this.setTool(this.tool);
  }

  showTool() {
    for (const [name, button] of this.toolButtons) button.setAttribute("aria-pressed", String(name === this.tool));
    this.stage.dataset.tool = this.tool ?? "";
    const hint = this.tool ? TOOLS[this.tool].hint : null;
    if (hint) {
      this.hint.dataset.i18n = hint;
      this.hint.value = t(hint);
    } else {
      delete this.hint.dataset.i18n;
      this.hint.value = "";
    }
  }

  // Pointer: one finger or the mouse drags through the slices (Ctrl: the window; the
  // Pan tool or Shift: the image); two fingers move and pinch-zoom the image.
  gestures(surface) {
    const down = new Map(); // pointer id -> where it is
    let gesture = null;
    surface.style.touchAction = "none";
    surface.addEventListener("pointerdown", (event) => {
      if (!this.presenting() || (event.pointerType === "mouse" && event.button !== 0)) return;
      down.set(event.pointerId, { x: event.clientX, y: event.clientY });
      surface.setPointerCapture(event.pointerId);
      gesture = this.startGesture(event, down);
    });
    surface.addEventListener("pointermove", (event) => {
      if (this.pending.length) this.previewAt(event);
      if (!down.has(event.pointerId)) return;
      down.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (gesture) this.moveGesture(gesture, event, down);
    });
    const up = (event) => {
      // lifting one finger of two ends the gesture, without a jump
      if (down.delete(event.pointerId)) gesture = null;
    };
    surface.addEventListener("pointerup", up);
    surface.addEventListener("pointercancel", up);
  }

  startGesture(event, down) {
    const { zoom, pan } = this.latest("viewport");
    if (down.size === 2) {
      const [a, b] = [...down.values()];
      return { kind: "pinch", mid: midpoint(a, b), distance: distance(a, b), zoom, pan };
    }
    if (down.size > 2) return null;
    const start = { x: event.clientX, y: event.clientY };
    if (this.tool === "pan" || event.shiftKey) return { kind: "pan", start, zoom, pan };
    if (this.tool) return null; // measuring: clicks, not drags
    if (event.ctrlKey) return { kind: "window", start, window: this.latest("window") ?? { center: 40, width: 400 } };
    const frame = this.latest("frame");
    return { kind: "scroll", start, frame, sent: frame };
  }

  moveGesture(g, event, down) {
    // From where the gesture started, not step by step: no movement is lost while
    // updates are on their way.
    if (g.kind === "pinch") {
      if (down.size !== 2) return;
      const [a, b] = [...down.values()];
      const zoom = clampZoom((g.zoom * distance(a, b)) / g.distance);
      const mid = midpoint(a, b);
      this.queue({ viewport: { zoom, pan: this.panned(g.pan, mid.x - g.mid.x, mid.y - g.mid.y, zoom) } });
      return;
    }
    const dx = event.clientX - g.start.x;
    const dy = event.clientY - g.start.y;
    if (g.kind === "pan") {
      this.queue({ viewport: { zoom: g.zoom, pan: this.panned(g.pan, dx, dy, g.zoom) } });
    } else if (g.kind === "window") {
      this.queue({ window: { center: g.window.center + dy * 2, width: Math.max(1, g.window.width + dx * 4) } });
    } else {
      const frame = clamp(g.frame + Math.trunc(dy / DRAG_STEP_PX), 0, this.state.frames - 1);
      if (frame !== g.sent) {
        g.sent = frame;
        this.queue({ frame });
      }
    }
  }

  // CSS pixels per image pixel at zoom 1 (the picture as laid out).
  cssPerPixel() {
    return this.image?.naturalWidth ? this.image.offsetWidth / this.image.naturalWidth : 0;
  }

  // Pan is kept in image pixels, so that followers with other screen sizes see the
  // same part of the image: a drag of d screen pixels moves it d / (zoom · css/px).
  panned(pan, dx, dy, zoom) {
    const k = this.cssPerPixel();
    if (!k) return pan;
    const w = this.image.naturalWidth / 2;
    const hh = this.image.naturalHeight / 2;
    return { x: clamp(pan.x + dx / (zoom * k), -w, w), y: clamp(pan.y + dy / (zoom * k), -hh, hh) };
  }

  applyView() {
    const { zoom, pan } = this.state.viewport;
    const k = this.cssPerPixel();
    this.sliceWrap.style.transform = `scale(${zoom}) translate(${pan.x * k}px, ${pan.y * k}px)`;
    Object.assign(this.sliceWrap.dataset, { zoom: String(zoom), panX: String(pan.x), panY: String(pan.y) });
  }

  // Measurements ----------------------------------------------------------------

  imagePoint(event) {
    if (!this.image.naturalWidth) return null;
    const box = this.sliceWrap.getBoundingClientRect(); // after zoom and pan
    const x = ((event.clientX - box.left) / box.width) * this.image.naturalWidth;
    const y = ((event.clientY - box.top) / box.height) * this.image.naturalHeight;
    if (x < 0 || y < 0 || x > this.image.naturalWidth || y > this.image.naturalHeight) return null;
    return { x, y };
  }

  measureClick(event) {
    const needed = TOOLS[this.tool]?.points;
    if (!needed || !this.presenting()) return;
    const point = this.imagePoint(event);
    if (!point) return;
    this.pending.push(point);
    this.pendingFrame = this.state.frame;
    if (this.pending.length < needed) {
      this.drawPending(null);
      return;
    }
    // The server computes the numbers (mm from the pixel spacing, degrees, HU).
    const annotation = annotationOf(this.tool, this.pending, this.state.frame);
    this.cancelPending();
    this.queue({ annotations: [...this.latest("annotations"), annotation] });
  }

  previewAt(event) {
    if (this.tool && TOOLS[this.tool].points) this.drawPending(this.imagePoint(event));
  }

  cancelPending() {
    this.pending = [];
    if (this.marks) this.drawPending(null);
  }

  drawPending(hover) {
    const box = this.sliceWrap.getBoundingClientRect();
    const radius = box.width ? (5 * this.image.naturalWidth) / box.width : 1;
    drawPending(this.marks, this.tool, this.pending, hover, radius);
  }

  spacingOf(frame) {
    const object = this.object;
    const instance = object.kind === "series" ? object.series.instances[frame] : object.instance;
    return instance?.pixel_spacing ?? null;
  }

  drawMarks() {
    drawMarks({
      svg: this.marks,
      wrap: this.sliceWrap,
      width: this.image.naturalWidth || 1,
      height: this.image.naturalHeight || 1,
      spacing: (frame) => this.spacingOf(frame),
    }, this.state.annotations, this.state.frame);
  }

  // Showing the state -------------------------------------------------------------

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
    const url = this.frameUrl(object, state.frame);
    if (this.image.getAttribute("src") !== url) this.image.src = url;
    this.image.dataset.frame = String(state.frame);
    this.image.alt = `${t("imaging.slice")} ${state.frame + 1} / ${state.frames}`;
    this.applyView();
    if (this.pending.length && this.pendingFrame !== state.frame) this.cancelPending();
    this.drawMarks();
    this.slider.value = String(state.frame);
    this.sliceNumber.value = `${state.frame + 1} / ${state.frames}`;
    this.corners.locate({
      series: object.series,
      frame: state.frame,
      frames: state.frames,
      // a position only where frames are slices (a cine loop's frames share one)
      instance: object.kind === "series" ? object.series.instances[state.frame] : null,
      view: this.viewText(state),
    });
    this.preset.value = state.preset ?? "file";
    const presenting = this.presenting();
    if (!presenting && this.pending.length) this.cancelPending(); // control went to someone else
    this.stage.dataset.presenting = String(presenting);
    for (const control of this.controlsEl.querySelectorAll("input, select, button")) control.disabled = !presenting;
    this.clearButton.disabled = !presenting || !state.annotations.length;
    if (object.kind === "cine") {
      const base = object.instance.frame_rate ?? 10;
      const fps = state.cine.fps ?? base;
      this.play.textContent = t(state.cine.playing ? "imaging.pause" : "imaging.play");
      const speed = SPEEDS.reduce((best, x) => (Math.abs(x - fps / base) < Math.abs(best - fps / base) ? x : best));
      this.speed.value = String(speed);
      this.rate.value = `${formatNumber(fps, 1, 0)} ${t("imaging.fps")}`;
      this.rate.dataset.fps = String(Math.round(fps * 100) / 100);
      // A playing loop is no slice-by-slice news for a screen reader.
      this.sliceNumber.setAttribute("aria-live", state.cine.playing ? "off" : "polite");
      // What the presenter asked for counts, not an answer that left before it.
      const wanted = presenting ? this.latest("cine") : null;
      this.runCine(wanted?.playing ? wanted.fps ?? base : null);
    } else {
      this.sliceNumber.setAttribute("aria-live", "polite");
    }
  }

  // The window and zoom, for the bottom right corner.
  viewText(state) {
    const { center, width } = state.window ?? {};
    const windowText = state.window ? `C ${formatNumber(center, 0)} / W ${formatNumber(width, 0)}` : t(`preset.${state.preset ?? "file"}`);
    return `${t("imaging.window")}: ${windowText} · ${t("identity.zoom")} ${formatNumber(state.viewport.zoom * 100, 0)} %`;
  }

  // The presenter's browser steps the loop; everyone follows the frames it sends.
  runCine(fps) {
    if (fps === this.cineFps) return;
    this.stopCine();
    if (fps === null) return;
    this.cineFps = fps;
    const interval = 1000 / fps;
    this.stage.dataset.intervalMs = String(Math.round(interval));
    let frame = this.state.frame;
    this.cineTimer = setInterval(() => {
      frame = (frame + 1) % this.state.frames;
      this.queue({ frame });
    }, interval);
  }

  stopCine() {
    clearInterval(this.cineTimer);
    this.cineTimer = null;
    this.cineFps = null;
    if (this.stage) delete this.stage.dataset.intervalMs;
  }

  stop() {
    this.stopCine();
    this.offs.forEach((off) => off());
  }
}
