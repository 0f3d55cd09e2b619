// WebRTC for a room, the LiveKit way: a publish connection that this page offers,
// and a subscribe connection that the server offers (and re-offers as tracks come
// and go). Candidates are gathered before an offer or answer is sent, since the
// server's aiortc does not trickle.

import { call, on } from "./realtime.js";

const GATHER_TIMEOUT_MS = 3000;
// A connection "disconnected" this long is started over (aiortc has no ICE restart).
const DISCONNECTED_GRACE_MS = 5000;
// Media restarts after a failure wait 0, 1, 2, 4... s, at most 30 s; after this
// many in a row without a connection, the page stops and says so.
const MAX_RECOVERIES = 6;
const MAX_BACKOFF_MS = 30000;
// Connected this long, a connection counts as recovered.
const STABLE_MS = 10000;
// A fuse far below Chrome's 500: a bug that loops on connections stops here.
export const MAX_CONNECTIONS = 40;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS);
  });
}

// The session's ICE user fragment: the server's connection, since aiortc never
// restarts ICE on one; a new one means the server started that connection over.
function iceUfrag(sdp) {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null;
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class RoomMedia {
  // Create it before room.join: the server may offer the subscribe connection the
  // moment the join is processed, before the join's answer arrives.
  constructor() {
    // Sent with every room.join of this page: the server keeps this page's media
    // across a socket reconnect and starts it over for another page.
    this.session = randomId();
    this.trackHandler = null;
    this.pendingTracks = [];
    this.config = { iceServers: [], bundlePolicy: "max-bundle" };
    this.cameraEncodings = [];
    // Offers wait until configure() gives the STUN/TURN servers from the join answer.
    this.configured = new Promise((resolve) => (this.openGate = resolve));
    this.publishPc = null;
    this.subscribePc = null;
    this.subscribeUfrag = null;
    this.localStream = null;
    this.connectionsMade = 0;
    this.recoveries = 0;
    this.recovering = null; // the restart under way or waited for
    this.closed = false;
    this.stateHandler = () => {};
    this.offers = Promise.resolve(); // server offers are answered one at a time
    this.unsubscribe = on("media.subscribe_offer", (data) => {
      this.offers = this.offers
        .then(() => this.configured)
        .then(() => this.answer(data.sdp))
        .catch((err) => {
          // Our socket changed while answering: the server offers again once we
          // are back in the room (the resumed join), so nothing is started over.
          if (err.code === "not_in_room") return;
          console.warn("subscribe offer failed", err);
          this.recover(`subscribe offer: ${err.message}`);
        });
    });
  }

  // handler(state, detail): "connecting", "connected", "reconnecting" or "failed".
  onState(handler) {
    this.stateHandler = handler;
  }

  newConnection(role) {
    if (this.connectionsMade >= MAX_CONNECTIONS) throw new Error("too many media connections");
    this.connectionsMade += 1;
    const pc = new RTCPeerConnection(this.config);
    let grace = null;
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.publishPc && pc !== this.subscribePc) return; // replaced already
      const state = pc.connectionState;
      clearTimeout(grace);
      if (state === "connected") {
        // Connected for a while: the next failure is a new one, restarted at once.
        grace = setTimeout(() => {
          if (pc.connectionState === "connected") this.recoveries = 0;
        }, STABLE_MS);
        this.stateHandler("connected");
      } else if (state === "failed") {
        this.recover(`${role} connection failed`);
      } else if (state === "disconnected") {
        this.stateHandler("reconnecting");
        grace = setTimeout(() => {
          if (pc.connectionState === "disconnected") this.recover(`${role} connection lost`);
        }, DISCONNECTED_GRACE_MS);
      }
    });
    return pc;
  }

  // Start this page's media over, once at a time, waiting longer each time it
  // fails again; after MAX_RECOVERIES in a row the page says so and stops.
  recover(reason) {
    if (this.closed || this.recovering) return;
    this.recovering = this.recoverLoop(reason).finally(() => {
      this.recovering = null;
    });
  }

  async recoverLoop(reason) {
    while (!this.closed) {
      if (this.recoveries >= MAX_RECOVERIES) {
        this.stateHandler("failed", reason);
        return;
      }
      const delay = this.recoveries === 0 ? 0 : Math.min(1000 * 2 ** (this.recoveries - 1), MAX_BACKOFF_MS);
      this.recoveries += 1;
      this.stateHandler("reconnecting", reason);
      console.warn(`media restart in ${delay} ms: ${reason}`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        await this.restart();
        return;
      } catch (err) {
        reason = `restart: ${err.message}`;
      }
    }
  }

  async restart() {
    // New connections at both ends: the server's peer ends (with its producers)
    // and a new one starts; its subscribe offer arrives with a new ICE session.
    this.closeConnections();
    await call("media.restart");
    if (this.localStream) await this.publish();
  }

  closeConnections() {
    this.publishPc?.close();
    this.subscribePc?.close();
    this.publishPc = this.subscribePc = null;
    this.subscribeUfrag = null;
  }

  configure(iceServers = [], cameraEncodings = []) {
    this.config.iceServers = iceServers;
    // simulcast, as the server asks: each subscriber is sent the encoding its link carries
    this.cameraEncodings = cameraEncodings;
    this.openGate();
  }

  onTrack(handler) {
    this.trackHandler = handler;
    for (const args of this.pendingTracks.splice(0)) handler(...args);
  }

  async startLocal({ audio = true, video = true } = {}) {
    this.localStream = await navigator.mediaDevices.getUserMedia({
      audio,
      video: video ? { width: { ideal: 1280 }, height: { ideal: 720 } } : false,
    });
    return this.localStream;
  }

  async publish() {
    if (!this.localStream) return;
    this.publishPc?.close();
    const pc = this.newConnection("publish");
    this.publishPc = pc;
    this.screenTransceiver = null;
    for (const track of this.localStream.getTracks()) {
      const init = { direction: "sendonly", streams: [this.localStream] };
      if (track.kind === "video" && this.cameraEncodings.length) {
        init.sendEncodings = this.cameraEncodings.map((e) => ({ ...e }));
      }
      pc.addTransceiver(track, init);
    }
    this.videoSender = pc.getTransceivers().find((tr) => tr.sender.track?.kind === "video")?.sender ?? null;
    await this.negotiatePublish();
  }

  async negotiatePublish() {
    // The page offers; each m-line says what it carries, so the server can tell
    // the camera from a screen share.
    const pc = this.publishPc;
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const sources = {};
    for (const tr of pc.getTransceivers()) {
      if (tr.mid === null || tr.direction === "inactive") continue;
      if (tr === this.screenTransceiver) sources[tr.mid] = "screen";
      else sources[tr.mid] = tr.receiver.track.kind === "audio" ? "microphone" : "camera";
    }
    const { sdp } = await call("media.publish", { sdp: pc.localDescription.sdp, sources });
    await pc.setRemoteDescription({ type: "answer", sdp });
  }

  async shareScreen(onEnded) {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
    const [track] = stream.getVideoTracks();
    track.addEventListener("ended", onEnded); // the browser's own "stop sharing"
    if (this.screenTransceiver) {
      // m-lines are not recycled by the server: reuse the screen's own.
      await this.screenTransceiver.sender.replaceTrack(track);
      this.screenTransceiver.direction = "sendonly";
    } else {
      this.screenTransceiver = this.publishPc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    }
    this.screenStream = stream;
    await this.negotiatePublish();
    return stream;
  }

  async stopScreen() {
    if (!this.screenTransceiver || this.screenTransceiver.direction === "inactive") return;
    this.screenStream?.getTracks().forEach((t) => t.stop());
    await this.screenTransceiver.sender.replaceTrack(null);
    this.screenTransceiver.direction = "inactive"; // the server ends the producer
    await this.negotiatePublish();
  }

  async answer(sdp) {
    const ufrag = iceUfrag(sdp);
    if (this.subscribePc && ufrag !== this.subscribeUfrag) {
      // The server started our subscribe connection over (a media restart, new
      // permissions): its offer belongs to a new session, taken on a new connection.
      this.subscribePc.close();
      this.subscribePc = null;
    }
    if (!this.subscribePc) {
      const pc = this.newConnection("subscribe");
      pc.addEventListener("track", (event) => {
        // The stream id is the publishing participant's id.
        const participantId = event.streams[0]?.id ?? "";
        if (this.trackHandler) this.trackHandler(participantId, event.track, event.streams[0]);
        else this.pendingTracks.push([participantId, event.track, event.streams[0]]);
      });
      this.subscribePc = pc;
      this.subscribeUfrag = ufrag;
      this.stateHandler("connecting");
    }
    // A refused offer is not retried here: the caller starts the media over.
    const pc = this.subscribePc;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    if (pc !== this.subscribePc) return; // replaced while gathering
    await call("media.subscribe_answer", { sdp: pc.localDescription.sdp });
  }

  stopPublishing() {
    this.publishPc?.close();
    this.publishPc = null;
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
  }

  setEnabled(kind, enabled) {
    for (const track of this.localStream?.getTracks() ?? []) {
      if (track.kind === kind) track.enabled = enabled;
    }
  }

  async quality() {
    // Per participant, from the last interval: packet loss (fraction), round trip
    // (seconds) and received bitrate (bit/s). "" is this page's own uplink.
    const now = performance.now();
    const result = new Map();
    const add = (id, loss, rtt, bits) => {
      const q = result.get(id) ?? { lost: 0, received: 0, rtt: null, bits: 0 };
      q.lost += loss[0];
      q.received += loss[1];
      if (rtt !== null) q.rtt = rtt;
      q.bits += bits;
      result.set(id, q);
    };
    let rtt = null;
    const previous = this.lastStats ?? new Map();
    const current = new Map();
    for (const pc of [this.subscribePc, this.publishPc]) {
      if (!pc) continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
          rtt = s.currentRoundTripTime;
        }
        if (s.type === "inbound-rtp") {
          // The consumer's track id is "<participant id>:<mid>".
          const id = (s.trackIdentifier ?? "").split(":")[0];
          const before = previous.get(s.id) ?? { at: now, lost: 0, received: 0, bytes: 0 };
          const seconds = Math.max((now - before.at) / 1000, 0.001);
          current.set(s.id, { at: now, lost: s.packetsLost ?? 0, received: s.packetsReceived ?? 0, bytes: s.bytesReceived ?? 0 });
          add(
            id,
            [(s.packetsLost ?? 0) - before.lost, (s.packetsReceived ?? 0) - before.received],
            null,
            ((s.bytesReceived ?? 0) - before.bytes) * 8 / seconds,
          );
        }
        if (s.type === "remote-inbound-rtp") {
          add("", [0, 0], s.roundTripTime ?? null, 0);
          const q = result.get("");
          q.lossFraction = s.fractionLost ?? 0;
        }
      });
    }
    this.lastStats = current;
    for (const q of result.values()) {
      if (q.rtt === null) q.rtt = rtt;
      const total = q.lost + q.received;
      q.loss = q.lossFraction ?? (total > 0 ? Math.max(q.lost, 0) / total : 0);
    }
    return result;
  }

  async devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === "videoinput"),
      microphones: all.filter((d) => d.kind === "audioinput"),
    };
  }

  async switchDevice(kind, deviceId) {
    // Swap the track in place: the publish connection keeps its m-lines, no re-offer.
    const constraints = kind === "video" ? { video: { deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } };
    const [track] = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks();
    const old = this.localStream.getTracks().find((t) => t.kind === kind);
    const sender = this.publishPc?.getSenders().find((s) => s.track === old || (kind === "video" && s === this.videoSender));
    await sender?.replaceTrack(track);
    if (old) {
      track.enabled = old.enabled;
      this.localStream.removeTrack(old);
      old.stop();
    }
    this.localStream.addTrack(track);
    return track;
  }

  async setVideoSending(on) {
    // Low-bandwidth mode: stop sending the camera without renegotiating.
    const camera = this.localStream?.getVideoTracks()[0] ?? null;
    await this.videoSender?.replaceTrack(on ? camera : null);
  }

  close() {
    this.closed = true;
    this.unsubscribe();
    this.closeConnections();
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
  }
}
