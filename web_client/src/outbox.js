// Chat lines that wait for the link. A line typed while the socket is down, or
// whose answer was lost with the link, stays here, shown as waiting, and is sent
// again once the room is back. The server keeps one line per client_id, so a
// resend of a line that did arrive is never doubled; the room's echo
// (chat.message) is what puts the line in the log for good.

import { actionErrorKey } from "./explain.js";
import { call, connected } from "./realtime.js";

// Causes that the link coming back cures: keep the line and try again then.
const RETRY_KEYS = new Set(["join.error.offline", "room.error.not_in_room"]);
const RETRY_MS = 3000;

export class ChatOutbox {
  // onWaiting(entry): a line is waiting (entry.text, entry.clientId);
  // onDone(entry, err): it was sent (err null) or refused for good.
  constructor({ onWaiting, onDone }) {
    this.onWaiting = onWaiting;
    this.onDone = onDone;
    this.waiting = []; // in the order typed
    this.flushing = false;
  }

  send(text) {
    const entry = { text, clientId: crypto.randomUUID() };
    this.waiting.push(entry);
    this.onWaiting(entry);
    return this.flush();
  }

  // Leaving the room: what still waits is not sent.
  close() {
    clearTimeout(this.retry);
    this.waiting = [];
  }

  // The room's echo of a line: it arrived, whatever became of our call.
  delivered(clientId) {
    const i = this.waiting.findIndex((e) => e.clientId === clientId);
    if (i > 0 || (i === 0 && !this.flushing)) this.waiting.splice(i, 1);
  }

  // Send what waits, in order; stops at the first line the link refuses.
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.waiting.length && connected()) {
        clearTimeout(this.retry);
        const entry = this.waiting[0];
        try {
          await call("chat.send", { text: entry.text, client_id: entry.clientId }, 10000);
        } catch (err) {
          if (RETRY_KEYS.has(actionErrorKey(err))) {
            // The room's resume flushes again; a socket that never noticed the
            // drop does not resume, so try again while it stays up.
            clearTimeout(this.retry);
            this.retry = setTimeout(() => this.flush(), RETRY_MS);
            return;
          }
          this.waiting.shift();
          this.onDone(entry, err);
          continue;
        }
        this.waiting.shift();
        this.onDone(entry, null);
      }
    } finally {
      this.flushing = false;
    }
  }
}
