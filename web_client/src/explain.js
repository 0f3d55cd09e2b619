// Sentences a person can act on, in their language, for what went wrong when
// joining a room, opening the camera or acting in a room (the server's own
// messages are for logs). Each gives an i18n key, so that the sentence follows
// a change of language.

import { ApiError } from "./api.js";
import { t } from "./i18n.js";
import { connected } from "./realtime.js";

// Refusals the server names with a code (its REST `code`, its ack `code`).
const JOIN_CODES = ["link_used", "link_expired", "link_invalid", "session_ended", "removed"];
const ROOM_CODES = ["not_found", "not_accepted", "training_ended", "not_in_room"];

function codedKey(err, training) {
  const code = err?.code;
  // A training that ended is not "the consultation" a patient's sentence names.
  if (training && (code === "session_ended" || code === "training_ended")) return "room.error.training_ended";
  if (JOIN_CODES.includes(code)) return `join.error.${code}`;
  if (ROOM_CODES.includes(code)) return `room.error.${code}`;
  if (err instanceof ApiError) {
    if (err.status === 401) return "room.error.signed_out";
    if (err.status === 403) return "room.error.forbidden";
    if (err.status === 404) return "room.error.not_found";
    return null;
  }
  // fetch() rejects with a TypeError when the request never reached the server;
  // a socket.io call times out, or fails, while the socket is down.
  if (err instanceof TypeError || !connected() || /time(d)? ?out/i.test(err?.message ?? "")) {
    return "join.error.offline";
  }
  return null;
}

// Joining: getting a room token (REST) and entering the room (socket).
export function joinErrorKey(err, { training = false } = {}) {
  const key = codedKey(err, training);
  if (key) return key;
  console.warn("join refused", err);
  return "join.error.other";
}

// A room action (raise a hand, ask a question, ...): a sentence where the cause
// is known, else null and the caller shows the server's own words.
export function actionErrorKey(err) {
  return codedKey(err, false);
}

export function cameraErrorKey(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "camera.blocked";
    case "NotFoundError":
    case "OverconstrainedError":
      return "camera.missing";
    case "NotReadableError":
    case "AbortError":
      return "camera.busy";
    default:
      return "room.noCamera";
  }
}

// Show the sentence of `key` in `el`, and keep it in the page's language.
export function say(el, key) {
  el.dataset.i18n = key;
  el.textContent = t(key);
}
