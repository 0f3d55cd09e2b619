// Sentences a person can act on, in their language, for what went wrong when
// joining or opening the camera (the server's own messages are for logs). Each
// gives an i18n key, so that the sentence follows a change of language.

import { t } from "./i18n.js";
import { connected } from "./realtime.js";

const JOIN_CODES = ["link_used", "link_expired", "link_invalid", "session_ended", "removed"];

export function joinErrorKey(err) {
  if (JOIN_CODES.includes(err?.code)) return `join.error.${err.code}`;
  if (!connected() || /time(d)? ?out/i.test(err?.message ?? "")) return "join.error.offline";
  console.warn("join refused", err);
  return "join.error.other";
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
