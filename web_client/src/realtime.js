// The one socket.io connection of the page, with acknowledged calls and a state signal.

import { io } from "/vendor/socket.io.esm.min.js";

let socket = null;
const stateListeners = new Set();

export function connect() {
  if (socket) return socket;
  // The log-in cookie authenticates staff; a patient connects with nothing and
  // joins a room with the link's token.
  socket = io({ transports: ["websocket"], withCredentials: true, reconnectionDelayMax: 5000 });
  const tell = (state) => stateListeners.forEach((fn) => fn(state));
  socket.on("connect", () => tell("online"));
  socket.on("disconnect", () => tell("offline"));
  socket.on("connect_error", () => tell("offline"));
  socket.io.on("reconnect_attempt", () => tell("connecting"));
  return socket;
}

export function disconnect() {
  socket?.disconnect();
  socket = null;
}

export function onState(fn) {
  stateListeners.add(fn);
  return () => stateListeners.delete(fn);
}

export function on(event, fn) {
  connect().on(event, fn);
  return () => socket?.off(event, fn);
}

export async function call(event, data = {}, timeout = 15000) {
  const answer = await connect().timeout(timeout).emitWithAck(event, data);
  if (answer && answer.error) {
    const error = new Error(answer.error);
    error.field = answer.field;
    error.code = answer.code; // stable, for a sentence in the person's language
    throw error;
  }
  return answer;
}

export function connected() {
  return !!socket?.connected;
}
