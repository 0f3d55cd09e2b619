// The consultation room: video grid, controls, participants (with the lobby for
// moderators) and chat. Used by staff (room token from the API) and by patients
// (after the lobby).

import { api } from "./api.js";
import { h, clear, label } from "./dom.js";
import { t } from "./i18n.js";
import { CaseFilePanel } from "./casefile.js";
import { PatientFilePanel } from "./patientfile.js";
import { ImagingPanel } from "./imaging.js";
import { ChatOutbox } from "./outbox.js";
import { call, on, onState } from "./realtime.js";
import { actionErrorKey, cameraErrorKey, say } from "./explain.js";

// A remote video that decodes no new frame for this long is shown as frozen.
const FROZEN_MS = 2000;
const TILE_CHECK_MS = 500;

export class Room {
  constructor(root, { joinAnswer, media, onLeave, staffConsultationId = null, patientToken = null, training = false }) {
    this.training = training;
    this.questions = joinAnswer.questions ?? [];
    this.speakers = new Set(); // promoted by this moderator, to offer demotion
    this.patientToken = patientToken; // a function: the current session token of a patient
    this.media = media;
    this.root = root;
    this.state = joinAnswer;
    this.me = joinAnswer.participant_id;
    this.onLeave = onLeave;
    this.consultationId = staffConsultationId;
    this.participants = new Map((joinAnswer.participants ?? []).map((p) => [p.id, p]));
    this.lobby = new Map((joinAnswer.lobby ?? []).map((p) => [p.id, p]));
    this.moderator = this.participants.get(this.me)?.moderator ?? false;
    this.locked = !!joinAnswer.locked;
    this.tiles = new Map();
    this.offs = [];
    this.lastChatId = 0;
    this.outbox = new ChatOutbox({ onWaiting: (e) => this.showWaitingChat(e), onDone: (e, err) => this.chatDone(e, err) });
    this.micOn = true;
    this.camOn = true;
    this.handUp = false;
    this.lowBandwidth = false;
    this.poorSamples = 0;
    this.producers = new Map((joinAnswer.producers ?? []).map((p) => [p.producer_id, p]));
    this.streamState = { paused: new Set(), reduced: new Set() };
    this.recording = joinAnswer.recording ?? null; // {id, status} while asked or running
  }

  async start() {
    this.media.configure(this.state.ice_servers ?? [], this.state.camera_encodings ?? []);
    this.render();
    this.media.onState((state, detail) => this.showMediaState(state, detail));
    for (const message of this.state.chat ?? []) this.addChat(message);
    this.listen();
    this.media.onTrack((pid, track, stream) => {
      // A screen share gets a tile of its own (its track id is the producer id).
      if (this.producers.get(track.id)?.source === "screen") {
        this.attach(`${pid}:screen`, new MediaStream([track]), pid);
      } else {
        this.attach(pid, stream);
      }
    });
    if (this.imagingEl) {
      this.imaging = new ImagingPanel(this.imagingEl, {
        consultationId: this.consultationId,
        me: this.me,
        participants: this.participants,
        views: this.state.views ?? [],
      });
      this.imaging.start().catch((err) => this.failed(err));
      this.caseFile = new CaseFilePanel(this.caseFileEl, { consultationId: this.consultationId, me: this.me });
      this.caseFile.start();
    } else if (this.patientToken) {
      this.caseFile = new PatientFilePanel(this.caseFileEl, { token: this.patientToken });
      this.caseFile.start();
    }
    this.qualityTimer = setInterval(() => this.updateQuality().catch(() => {}), 2000);
    this.tileTimer = setInterval(() => this.updateTiles(), TILE_CHECK_MS);
    // Trainees only watch until promoted: no camera, no upstream media.
    const grants = this.state.grants ?? ["publish_audio", "publish_video"];
    if (grants.includes("publish_audio") || grants.includes("publish_video")) await this.startPublishing();
  }

  async startPublishing() {
    let stream;
    try {
      stream = await this.media.startLocal();
    } catch (err) {
      say(this.noticeEl, cameraErrorKey(err));
      console.warn("camera", err);
      return;
    }
    this.tile(this.me).video.srcObject = stream;
    try {
      await this.media.publish();
    } catch (err) {
      // The camera works; sending it did not: say so, and try again.
      console.warn("publish", err);
      this.media.recover(`publish: ${err.message}`);
    }
    await this.renderDevices().catch(() => {});
  }

  showMediaState(state, detail) {
    // What the page is doing with its media connections, in words (the tiles say
    // what is seen of each person).
    const el = this.mediaStateEl;
    el.dataset.state = state;
    el.hidden = state === "connected";
    el.textContent = state === "connected" ? "" : t(`media.${state}`);
    if (state === "failed") {
      el.append(" ", h("button", { type: "button", i18n: "media.reload", onclick: () => location.reload() }));
    }
    if (detail) console.warn("media", state, detail);
  }

  listen() {
    const o = (event, fn) => this.offs.push(on(event, fn));
    o("participant.joined", (p) => {
      this.participants.set(p.id, p);
      this.renderPeople();
    });
    o("participant.left", ({ id }) => {
      this.participants.delete(id);
      this.tiles.get(id)?.el.remove();
      this.tiles.delete(id);
      this.renderPeople();
    });
    o("participant.updated", (p) => {
      this.participants.set(p.id, { ...this.participants.get(p.id), ...p });
      this.renderPeople();
      this.updateTiles();
    });
    o("room.lobby", ({ lobby }) => {
      this.lobby = new Map(lobby.map((p) => [p.id, p]));
      this.renderPeople();
    });
    o("room.locked", ({ locked }) => {
      this.locked = locked;
      this.renderControls();
    });
    o("chat.message", (m) => this.addChat(m));
    o("qa.updated", ({ questions }) => {
      this.questions = questions;
      this.renderQuestions();
    });
    o("room.promoted", async ({ speaker }) => {
      this.notice(t(speaker ? "train.promoted" : "train.demoted"));
      if (speaker) await this.startPublishing();
      else {
        this.media.stopPublishing();
        this.tile(this.me).video.srcObject = null;
      }
    });
    o("media.producer_added", (p) => {
      this.producers.set(p.producer_id, p);
      if (this.lowBandwidth && p.kind === "video" && p.participant_id !== this.me) {
        call("media.pause", { producer_id: p.producer_id }).catch(() => {});
      }
    });
    o("media.producer_removed", (p) => {
      if (this.producers.get(p.producer_id)?.source === "screen") this.dropTile(`${p.participant_id}:screen`);
      this.producers.delete(p.producer_id);
    });
    // What this page's link carries of each video (the server's stream allocator):
    // a paused or reduced picture is said on its tile, never taken for the sender's.
    o("media.stream_state", ({ paused, reduced }) => {
      this.streamState = { paused: new Set(paused), reduced: new Set(reduced) };
      this.updateTiles();
    });
    o("media.active_speaker", ({ participant_id }) => {
      for (const [id, tile] of this.tiles) tile.el.classList.toggle("speaking", id === participant_id);
    });
    o("room.muted", ({ by }) => {
      this.micOn = false;
      this.media.setEnabled("audio", false);
      this.sendMediaState();
      this.renderControls();
      this.notice(`${t("room.mutedBy")} ${by}`);
    });
    o("recording.consent_request", ({ recording_id: id, by }) => {
      this.recording = { id, status: "consent" };
      this.renderRecording(by);
    });
    o("recording.started", ({ recording_id: id, excluded }) => {
      this.recording = { id, status: "recording" };
      this.excludedFromRecording = excluded.includes(this.me);
      this.renderRecording();
    });
    o("recording.stopped", () => {
      this.recording = null;
      this.renderRecording();
    });
    o("recording.consent_update", ({ name, decision }) => {
      if (decision === "refused") this.notice(`${name}: ${t("rec.refusedBy")}`);
    });
    o("room.ended", () => this.finish(t("room.ended")));
    o("room.removed", () => this.finish(t("room.removed")));
    // The same person joined from another tab or device: the newest page has the call.
    o("room.replaced", () => this.finish(t("room.replaced")));
    // The room's server stopped: the same token brings us into the room where it comes back.
    o("room.moved", () => this.resume());
    // The server lost our media (a failed connection, nothing received): start it over.
    o("media.closed", ({ reason }) => this.media.recover(`closed by the server: ${reason}`));
    this.offs.push(
      onState((state) => {
        this.root.querySelector(".reconnecting").hidden = state === "online";
        if (state === "online") this.resume();
      }),
    );
  }

  async resume() {
    // Back after a drop: the same token resumes the same place, unseen by others.
    if (!this.rejoin) return;
    try {
      const answer = await this.rejoin();
      const missed = await call("chat.history", { after_id: this.lastChatId });
      missed.messages.forEach((m) => this.addChat(m));
      await this.outbox.flush(); // what was typed while the link was down
      // Our connections went on unless the server says otherwise.
      if (!answer.media_resumed) await this.media.publish();
    } catch (err) {
      this.failed(err);
    }
  }

  render() {
    clear(this.root);
    this.grid = h("div", { class: "grid", "aria-label": t("room.title") });
    this.controls = h("div", { class: "controls", role: "toolbar", "aria-label": t("room.title") });
    this.people = h("ul", { class: "people" });
    this.chatLog = h("ol", { class: "chat-log", "aria-live": "polite" });
    const input = h("input", { id: "chat-input", autocomplete: "off", maxlength: 2000 });
    const chatForm = h(
      "form",
      {
        class: "chat-form",
        onsubmit: async (event) => {
          event.preventDefault();
          const text = input.value.trim();
          if (!text) return;
          input.value = "";
          await this.outbox.send(text);
        },
      },
      h("label", { for: "chat-input", class: "visually-hidden", i18n: "room.chatInput" }),
      input,
      h("button", { type: "submit", i18n: "room.send" }),
    );
    this.noticeEl = h("p", { class: "notice", role: "status", "aria-live": "polite" });
    this.mediaStateEl = h("p", { class: "media-state", role: "status", "aria-live": "polite", hidden: true });
    this.recordingEl = h("div", { class: "recording", role: "status", "aria-live": "assertive" });
    this.imagingEl = this.consultationId ? h("section", { class: "imaging card" }) : null;
    this.caseFileEl = this.consultationId || this.patientToken ? h("section", { class: "casefile card" }) : null;
    this.root.append(
      h("p", { class: "reconnecting", role: "alert", hidden: true, i18n: "room.reconnecting" }),
      this.mediaStateEl,
      this.noticeEl,
      this.recordingEl,
      h(
        "div",
        { class: "room" },
        h("section", { class: "stage" }, this.grid, this.controls, this.imagingEl, this.caseFileEl),
        h(
          "aside",
          { class: "side" },
          h("h2", { i18n: "room.participants" }),
          this.people,
          this.training ? h("h2", { i18n: "train.questions" }) : null,
          this.training ? (this.questionsEl = h("ol", { class: "questions" })) : null,
          this.training ? this.questionForm() : null,
          h("h2", { i18n: "room.chat" }),
          this.chatLog,
          chatForm,
        ),
      ),
    );
    for (const id of this.participants.keys()) this.tile(id);
    if (this.training) this.renderQuestions();
    this.renderRecording();
    this.renderControls();
    this.renderPeople();
  }

  tile(id, owner = id) {
    let tile = this.tiles.get(id);
    if (tile) return tile;
    const video = h("video", { autoplay: true, playsinline: true, "data-participant": id });
    video.muted = id === this.me; // never play yourself back
    const name = h("span", { class: "name" });
    const quality = h("span", { class: "quality", "data-level": "unknown" });
    // What is seen of this person (connecting, live, frozen, camera off...) and
    // whether their microphone is on: words, not only colours.
    const state = h("span", { class: "tile-state", "data-state": "connecting" });
    const mic = h("span", { class: "tile-mic", hidden: true });
    const reduced = h("span", { class: "tile-reduced", hidden: true });
    const el = h(
      "figure",
      { class: "tile", "data-self": id === this.me, "data-participant": id },
      video,
      h("figcaption", {}, name, mic, reduced, quality),
      state,
    );
    this.grid.append(el);
    tile = { el, video, name, quality, state, mic, reduced, owner, screen: id !== owner, frames: 0, frameAt: 0 };
    el.classList.toggle("screen", tile.screen);
    this.tiles.set(id, tile);
    this.renderNames();
    return tile;
  }

  attach(tileId, stream, owner = tileId) {
    const tile = this.tile(tileId, owner);
    if (tile.video.srcObject !== stream) {
      tile.video.srcObject = stream;
      tile.frameAt = performance.now(); // "connecting" until frames come, then live
    }
  }

  // The state of one tile, from what this page really decodes and from what the
  // server says of that person's microphone and camera.
  tileState(id, tile, now) {
    const p = this.participants.get(tile.owner);
    const frames = tile.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
    if (frames !== tile.frames) {
      tile.frames = frames;
      tile.frameAt = now;
    }
    if (id === this.me) return this.camOn && !this.lowBandwidth ? "live" : "cameraOff";
    if (!tile.screen && p && p.video === false) return "cameraOff";
    if (this.lowBandwidth && !tile.screen) return "audioOnly";
    const producer = this.videoProducerOf(tile);
    if (!tile.screen && !producer) return "noVideo"; // sends no camera (a trainee, a restart)
    if (producer && this.streamState.paused.has(producer.producer_id)) return "pausedForLink";
    if (!tile.video.srcObject || !tile.video.videoWidth || !frames) return "connecting";
    return now - tile.frameAt > FROZEN_MS ? "frozen" : "live";
  }

  // The video producer a tile shows: the owner's camera, or the screen they share.
  videoProducerOf(tile) {
    const source = (pr) => (tile.screen ? pr.source === "screen" : pr.source !== "screen");
    return [...this.producers.values()].find(
      (pr) => pr.participant_id === tile.owner && pr.kind === "video" && source(pr),
    );
  }

  updateTiles() {
    const now = performance.now();
    for (const [id, tile] of this.tiles) {
      const state = this.tileState(id, tile, now);
      if (tile.state.dataset.state !== state) {
        tile.state.dataset.state = state;
        tile.el.dataset.state = state;
        tile.state.textContent = state === "live" ? "" : t(`tile.${state}`);
      }
      // the size said is the one decoded here, not the one the sender sends
      const producer = id === this.me ? null : this.videoProducerOf(tile);
      const reduced = state === "live" && !!producer && this.streamState.reduced.has(producer.producer_id);
      tile.reduced.hidden = !reduced;
      tile.reduced.textContent = reduced
        ? `${t("tile.reduced")} (${tile.video.videoWidth}×${tile.video.videoHeight})`
        : "";
      const p = this.participants.get(tile.owner);
      const micOff = !tile.screen && (id === this.me ? !this.micOn : p?.audio === false);
      tile.mic.hidden = !micOff;
      tile.mic.textContent = micOff ? t("tile.micOff") : "";
    }
  }

  sendMediaState() {
    call("media.state", { audio: this.micOn, video: this.camOn && !this.lowBandwidth }).catch(() => {});
  }

  dropTile(tileId) {
    this.tiles.get(tileId)?.el.remove();
    this.tiles.delete(tileId);
    this.renderNames();
  }

  renderNames() {
    for (const [id, tile] of this.tiles) {
      const p = this.participants.get(tile.owner);
      const name = tile.owner === this.me ? `${p?.name ?? ""} (${t("room.you")})` : p?.name ?? "";
      tile.name.textContent = tile.screen ? `${name} · ${t("room.screen")}` : name;
    }
    this.grid.dataset.count = String(this.tiles.size);
  }

  renderControls() {
    const toggle = (key, on, fn, media = false) =>
      h("button", { type: "button", class: media ? "media" : null, "aria-pressed": String(on), onclick: fn, i18n: key });
    const buttons = [
      toggle(this.micOn ? "room.mic" : "room.micOff", this.micOn, () => {
        this.micOn = !this.micOn;
        this.media?.setEnabled("audio", this.micOn);
        this.sendMediaState();
        this.renderControls();
        this.updateTiles();
      }, true),
      toggle(this.camOn ? "room.cam" : "room.camOff", this.camOn, () => {
        this.camOn = !this.camOn;
        this.media?.setEnabled("video", this.camOn);
        this.sendMediaState();
        this.renderControls();
        this.updateTiles();
      }, true),
      toggle("room.screen", !!this.sharing, () => this.toggleScreen()),
      toggle("room.lowBandwidth", this.lowBandwidth, () => this.setLowBandwidth(!this.lowBandwidth)),
      toggle("room.hand", this.handUp, async () => {
        this.handUp = !this.handUp;
        await call("hand.raise", { raised: this.handUp }).catch((e) => this.failed(e));
        this.renderControls();
      }),
    ];
    if (this.moderator) {
      buttons.push(
        h("button", {
          type: "button",
          i18n: this.locked ? "room.unlock" : "room.lock",
          onclick: () => call("room.lock", { locked: !this.locked }).catch((e) => this.failed(e)),
        }),
      );
      if (this.consultationId) {
        buttons.push(h("button", { type: "button", i18n: "room.invitePatient", onclick: () => this.invitePatient() }));
        buttons.push(h("button", { type: "button", i18n: "room.inviteColleague", onclick: () => this.inviteColleague() }));
      }
      const recording = this.recording !== null;
      buttons.push(
        h("button", {
          type: "button",
          i18n: recording ? "rec.stop" : "rec.start",
          onclick: () => call(recording ? "recording.stop" : "recording.request").then(() => this.renderControls()).catch((e) => this.failed(e)),
        }),
      );
      buttons.push(
        h("button", {
          type: "button",
          class: "danger",
          i18n: "room.end",
          // Ends the call of everyone in it, at once: ask first.
          onclick: () => {
            if (window.confirm(t("room.end_confirm"))) call("room.end").catch((e) => this.failed(e));
          },
        }),
      );
    }
    buttons.push(h("button", { type: "button", class: "danger", i18n: "room.leave", onclick: () => this.leave() }));
    clear(this.controls).append(...buttons);
  }

  renderPeople() {
    clear(this.people);
    for (const p of this.participants.values()) {
      const actions = [];
      if (this.moderator && p.id !== this.me && this.training) {
        const speaker = this.speakers.has(p.id);
        if (p.hand_raised || speaker) {
          actions.push(h("button", {
            type: "button",
            i18n: speaker ? "train.demote" : "train.promote",
            onclick: () => call("participant.promote", { participant_id: p.id, speaker: !speaker }).then(() => {
              if (speaker) this.speakers.delete(p.id);
              else this.speakers.add(p.id);
              this.renderPeople();
            }).catch((e) => this.failed(e)),
          }));
        }
      }
      if (this.moderator && p.id !== this.me) {
        actions.push(
          h("button", { type: "button", i18n: "room.mute", onclick: () => call("participant.mute", { participant_id: p.id, kind: "audio" }) }),
          // Removal ends their call at once (no grace period): ask first.
          h("button", { type: "button", i18n: "room.remove", onclick: () => {
            if (window.confirm(`${t("room.remove_confirm")} ${p.name}`)) call("participant.remove", { participant_id: p.id });
          } }),
        );
      }
      this.people.append(
        h("li", {}, h("span", {}, p.name, p.hand_raised ? " ✋" : ""), h("small", {}, ` ${t(`role.${p.role}`)}`), ...actions),
      );
    }
    if (this.moderator && this.lobby.size) {
      this.people.append(h("li", { class: "lobby-title" }, h("strong", { i18n: "room.lobbyTitle" })));
      for (const p of this.lobby.values()) {
        this.people.append(
          h(
            "li",
            { class: "waiting" },
            h("span", {}, p.name),
            h("button", { type: "button", i18n: "room.admit", onclick: () => call("room.admit", { participant_id: p.id }) }),
            h("button", { type: "button", i18n: "room.refuse", onclick: () => call("room.refuse", { participant_id: p.id }) }),
          ),
        );
      }
    }
    this.renderNames();
  }

  renderRecording(by = null) {
    clear(this.recordingEl);
    const rec = this.recording;
    if (!rec) return;
    if (rec.status === "recording") {
      this.recordingEl.append(h("span", { class: "rec-dot", "aria-hidden": "true" }, "●"), " ",
        h("strong", { i18n: this.excludedFromRecording ? "rec.notYou" : "rec.on" }));
      return;
    }
    // Asked: a patient must answer; everyone else is told.
    this.recordingEl.append(h("span", {}, `${by ?? ""} ${t("rec.asked")}`));
    const me = this.participants.get(this.me);
    if (me?.role === "patient") {
      const answer = (accept) => () => call("recording.consent", { recording_id: rec.id, accept }).then(() => {
        this.excludedFromRecording = !accept;
        // recording.started may have come first: then the indicator stays.
        if (this.recording?.status === "consent") {
          clear(this.recordingEl).append(h("span", { i18n: accept ? "rec.accepted" : "rec.refused" }));
        }
      }).catch((e) => this.failed(e));
      this.recordingEl.append(" ", h("button", { type: "button", i18n: "rec.accept", onclick: answer(true) }),
        " ", h("button", { type: "button", class: "danger", i18n: "rec.refuse", onclick: answer(false) }));
    }
    this.renderControls?.();
  }

  async renderDevices() {
    const { cameras, microphones } = await this.media.devices();
    const picker = (kind, devices, key) => {
      const current = this.media.localStream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
      const select = h(
        "select",
        { onchange: (event) => this.media.switchDevice(kind, event.target.value).catch((e) => this.failed(e)) },
        devices.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${t(key)} ${i + 1}`)),
      );
      return h("span", { class: "device" }, ...label(key, select));
    };
    this.devicesEl?.remove();
    this.devicesEl = h("div", { class: "devices" }, picker("video", cameras, "room.cam"), picker("audio", microphones, "room.mic"));
    this.controls.after(this.devicesEl);
  }

  async updateQuality() {
    if (!this.media) return;
    const byParticipant = await this.media.quality();
    const level = (q) => {
      if (!q) return "unknown";
      if (q.loss > 0.05 || (q.rtt ?? 0) > 0.4) return "poor";
      if (q.loss > 0.02 || (q.rtt ?? 0) > 0.2) return "fair";
      return "good";
    };
    for (const [id, tile] of this.tiles) {
      const q = byParticipant.get(id === this.me ? "" : id);
      // Only what is really seen gets a verdict: never "good" on a frozen tile.
      const value = id === this.me || tile.state.dataset.state === "live" ? level(q) : "unknown";
      tile.quality.dataset.level = value;
      tile.quality.textContent = value === "unknown" ? "" : t(`quality.${value}`);
      tile.quality.setAttribute("aria-label", `${t("room.network")}: ${tile.quality.textContent}`);
    }
    // A link that stays poor for three samples (6 s) gets an offer of audio only.
    const own = level(byParticipant.get(""));
    const inbound = [...byParticipant.entries()].filter(([id]) => id).map(([, q]) => level(q));
    const poor = own === "poor" || (inbound.length && inbound.every((v) => v === "poor"));
    this.poorSamples = poor ? this.poorSamples + 1 : 0;
    if (this.poorSamples === 3 && !this.lowBandwidth) {
      delete this.noticeEl.dataset.i18n;
      this.noticeEl.replaceChildren(
        h("span", { i18n: "room.poorLink" }),
        " ",
        h("button", { type: "button", i18n: "room.switch", onclick: () => this.setLowBandwidth(true) }),
      );
    }
  }

  async toggleScreen() {
    try {
      if (this.sharing) {
        await this.media.stopScreen();
        this.dropTile(`${this.me}:screen`);
        this.sharing = false;
      } else {
        const stream = await this.media.shareScreen(() => this.sharing && this.toggleScreen());
        this.attach(`${this.me}:screen`, stream, this.me);
        this.sharing = true;
      }
    } catch (err) {
      this.failed(err);
    }
    this.renderControls();
  }

  async setLowBandwidth(on) {
    // Audio only: stop sending the camera, and stop receiving everyone's video.
    this.lowBandwidth = on;
    this.renderControls();
    await this.media?.setVideoSending(on ? false : this.camOn);
    const event = on ? "media.pause" : "media.resume";
    for (const p of this.producers.values()) {
      if (p.kind === "video" && p.participant_id !== this.me) {
        await call(event, { producer_id: p.producer_id }).catch(() => {});
      }
    }
    this.grid.classList.toggle("audio-only", on);
    this.sendMediaState();
    this.updateTiles();
    if (on) this.notice("");
  }

  questionForm() {
    const input = h("input", { id: "question-input", maxlength: 1000, autocomplete: "off" });
    const form = h("form", { class: "chat-form" }, h("label", { for: "question-input", class: "visually-hidden", i18n: "train.ask" }), input, h("button", { type: "submit", i18n: "train.askButton" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      await call("qa.ask", { text }).catch((e) => this.failed(e));
    });
    return form;
  }

  renderQuestions() {
    if (!this.questionsEl) return;
    clear(this.questionsEl);
    for (const q of this.questions) {
      const actions = [h("button", { type: "button", "aria-label": `${t("train.upvote")}: ${q.text}`, onclick: () => call("qa.upvote", { question_id: q.id }) }, `▲ ${q.votes}`)];
      if (this.moderator) {
        actions.push(
          h("button", { type: "button", i18n: "train.answered", onclick: () => call("qa.answer", { question_id: q.id }) }),
          h("button", { type: "button", i18n: "train.dismiss", onclick: () => call("qa.dismiss", { question_id: q.id }) }),
        );
      }
      this.questionsEl.append(h("li", { "data-question": q.id }, h("span", {}, q.text), h("small", {}, ` — ${q.author} `), ...actions));
    }
  }

  // A line typed here, shown as waiting until the room's echo of it comes.
  showWaitingChat(entry) {
    const li = h("li", { class: "waiting", "data-client-id": entry.clientId },
      h("strong", { i18n: "chat.me" }), " ", entry.text, " ", h("small", { i18n: "chat.waiting" }));
    this.chatLog.append(li);
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }

  chatDone(entry, err) {
    const li = this.chatLog.querySelector(`li.waiting[data-client-id="${entry.clientId}"]`);
    if (!err) return li?.remove(); // its echo is, or will be, in the log
    li?.classList.replace("waiting", "refused");
    this.failed(err);
  }

  addChat(m) {
    if (m.client_id) {
      this.outbox.delivered(m.client_id);
      this.chatLog.querySelector(`li.waiting[data-client-id="${CSS.escape(m.client_id)}"]`)?.remove();
    }
    if (m.id <= this.lastChatId) return;
    this.lastChatId = m.id;
    const time = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    this.chatLog.append(h("li", {}, h("strong", {}, m.name), h("time", { datetime: m.at }, ` ${time} `), m.text));
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }

  async invitePatient() {
    const response = await fetch(`/api/consultations/${this.consultationId}/patient-link`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    const body = await response.json();
    if (!response.ok) return this.notice(body.error);
    const field = h("input", { readonly: true, value: body.url, class: "link" });
    delete this.noticeEl.dataset.i18n;
    this.noticeEl.replaceChildren(...label("room.patientLink", field));
    field.select();
  }

  inviteColleague() {
    // Another specialist or a site's clinician, by user name: they are told at once.
    const name = h("input", { maxlength: 64, autocapitalize: "none", id: "colleague-name" });
    const form = h("form", { class: "inline" }, ...label("room.colleague", name), h("button", { type: "submit", i18n: "room.inviteColleague" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("POST", `/api/consultations/${this.consultationId}/participants`, { username: name.value.trim() });
        this.notice(`${t("room.invited")}: ${name.value.trim()}`);
      } catch (err) {
        this.failed(err);
      }
    });
    delete this.noticeEl.dataset.i18n;
    this.noticeEl.replaceChildren(form);
    name.focus();
  }

  // A failed action: the sentence of its cause where it is known, else the
  // server's own words.
  failed(err) {
    const key = actionErrorKey(err);
    if (key) say(this.noticeEl, key);
    else this.notice(err.message);
  }

  notice(text) {
    delete this.noticeEl.dataset.i18n; // a sentence of the moment, not a standing one
    this.noticeEl.textContent = text;
  }

  async leave() {
    await call("room.leave").catch(() => {});
    this.finish(null);
  }

  finish(message) {
    clearInterval(this.qualityTimer);
    clearInterval(this.tileTimer);
    this.outbox.close();
    this.imaging?.stop();
    this.caseFile?.stop();
    this.offs.forEach((off) => off());
    this.media?.close();
    this.onLeave(message);
  }
}
