// A patient's way in: the link's token (after "#"), a pre-join check of camera and
// microphone, the waiting room, then the consultation room.

import { h, clear, label } from "./dom.js";
import { t } from "./i18n.js";
import { cameraErrorKey, joinErrorKey, say } from "./explain.js";
import { RoomMedia } from "./media.js";
import { call, connect, on } from "./realtime.js";

const SESSION_KEY = "telehealth.patient-session";

function meter(stream, bar) {
  // Microphone level from an analyser, so the patient sees that they are heard.
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  ctx.createMediaStreamSource(stream).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  let running = true;
  const tick = () => {
    if (!running) return;
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    bar.value = Math.min(100, (peak / 128) * 200);
    requestAnimationFrame(tick);
  };
  tick();
  return () => {
    running = false;
    ctx.close();
  };
}

function playTone() {
  // A one-second 440 Hz tone: "can you hear this?" before entering.
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  gain.gain.value = 0.2;
  osc.frequency.value = 440;
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 1);
  osc.addEventListener("ended", () => ctx.close());
}

async function checkNetwork(output) {
  // Round trips to the server: enough to warn a patient on a poor link before the call.
  const times = [];
  for (let i = 0; i < 3; i += 1) {
    const start = performance.now();
    try {
      await fetch("/healthz", { cache: "no-store" });
      times.push(performance.now() - start);
    } catch {
      output.value = t("prejoin.offline");
      output.dataset.level = "poor";
      return;
    }
  }
  const best = Math.min(...times);
  const level = best < 150 ? "good" : best < 400 ? "fair" : "poor";
  output.dataset.level = level;
  output.value = `${t(`quality.${level}`)} (${Math.round(best)} ms)`;
}

export class PatientJoin {
  constructor(root, { onAdmitted, onFinished }) {
    this.root = root;
    this.onAdmitted = onAdmitted;
    this.onFinished = onFinished;
    this.linkToken = decodeURIComponent(location.hash.slice(1));
  }

  async start() {
    clear(this.root);
    if (this.linkToken.length < 10 && !sessionStorage.getItem(SESSION_KEY)) {
      this.root.append(h("p", { class: "error", role: "alert", i18n: "prejoin.badLink" }));
      return;
    }
    const video = h("video", { autoplay: true, playsinline: true, muted: true, "aria-label": t("prejoin.preview") });
    video.muted = true;
    const level = h("meter", { min: 0, max: 100, value: 0, id: "mic-level" });
    const name = h("input", { required: true, maxlength: 100, autocomplete: "name" });
    const speaker = h("button", { type: "button", i18n: "prejoin.speaker", onclick: () => playTone() });
    const network = h("output", { id: "network-check", "aria-live": "polite" });
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      { class: "card prejoin" },
      h("h2", { i18n: "prejoin.title" }),
      video,
      ...label("prejoin.level", level),
      speaker,
      h("p", {}, h("span", { i18n: "prejoin.network" }), ": ", network),
      ...label("prejoin.name", name),
      h("button", { type: "submit", class: "primary", i18n: "prejoin.join" }),
      error,
    );
    this.root.append(form);
    // Listen before the camera opens: a patient who taps at once must not
    // submit the form natively (a page reload that loses the name).
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      delete error.dataset.i18n;
      error.textContent = "";
      try {
        await this.join(name.value.trim());
      } catch (err) {
        say(error, joinErrorKey(err));
      }
    });
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      if (!form.isConnected) {
        // already gone on to the waiting room or the call: this preview is not needed
        stream.getTracks().forEach((track) => track.stop());
        return;
      }
      this.stream = stream;
      video.srcObject = stream;
      this.stopMeter = meter(stream, level);
    } catch (err) {
      say(error, cameraErrorKey(err));
    }
    checkNetwork(network);
  }

  async join(name) {
    connect();
    // A link works once; after that the session token it was exchanged for brings
    // the patient back (after a drop, or a reload).
    const token = sessionStorage.getItem(SESSION_KEY) || this.linkToken;
    const media = new RoomMedia(); // ready before the server's first offer
    let answer;
    try {
      answer = await call("room.join", { token, name: name || undefined, media_session: media.session });
    } catch (err) {
      media.close();
      throw err;
    }
    if (answer.session_token) sessionStorage.setItem(SESSION_KEY, answer.session_token);
    this.stopMeter?.();
    this.stream?.getTracks().forEach((track) => track.stop());
    const rejoin = () => call("room.join", { token: sessionStorage.getItem(SESSION_KEY), media_session: media.session });
    if (answer.state === "joined") return this.onAdmitted({ ...answer, rejoin }, media);
    clear(this.root).append(
      h("section", { class: "card lobby", role: "status", "aria-live": "polite" }, h("h2", { i18n: "room.lobbyTitle" }), h("p", { i18n: "room.lobby" })),
    );
    const offs = [
      on("room.admitted", (state) => {
        offs.forEach((off) => off());
        this.onAdmitted({ ...answer, ...state, state: "joined", rejoin }, media);
      }),
      on("room.refused", () => {
        offs.forEach((off) => off());
        sessionStorage.removeItem(SESSION_KEY);
        media.close();
        this.onFinished(t("room.refused"));
      }),
    ];
  }
}

export function patientSessionToken() {
  return sessionStorage.getItem(SESSION_KEY);
}

export function forgetPatientSession() {
  sessionStorage.removeItem(SESSION_KEY);
}
