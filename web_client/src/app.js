// Application shell: log-in, who is logged in, and the live socket.io link.

import { io } from "/vendor/socket.io.esm.min.js";
import { api, ApiError } from "./api.js";
import { applyTranslations, setLanguage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let socket = null;
let currentUser = null;

function setRealtimeState(state) {
  const el = $("rt-status");
  el.dataset.state = state;
  el.textContent = t(`rt.${state}`);
}

function showUser(user) {
  currentUser = user;
  $("login").hidden = !!user;
  $("home").hidden = !user;
  if (!user) return;
  $("user-name").textContent = user.full_name;
  $("user-role").textContent = t(`role.${user.role}`);
  $("user-facility").textContent = user.facility ? user.facility.name : t("none");
}

function connectRealtime() {
  setRealtimeState("connecting");
  // The log-in cookie authenticates the socket; nothing else is sent.
  socket = io({ transports: ["websocket"], withCredentials: true });
  socket.on("connect", () => setRealtimeState("online"));
  socket.on("disconnect", () => setRealtimeState("offline"));
  socket.on("connect_error", () => setRealtimeState("offline"));
}

async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    error.textContent = t("login.missing");
    return;
  }
  try {
    const { user } = await api("POST", "/api/auth/login", { username, password });
    $("password").value = "";
    showUser(user);
    connectRealtime();
    $("home-title").focus?.();
  } catch (err) {
    error.textContent =
      err instanceof ApiError ? `${t("login.failed")}: ${err.message}` : t("login.network");
  }
}

async function onLogout() {
  socket?.disconnect();
  socket = null;
  await api("POST", "/api/auth/logout").catch(() => {});
  showUser(null);
  $("username").focus();
}

async function start() {
  applyTranslations();
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  }
  document.addEventListener("languagechange", () => {
    if (currentUser) showUser(currentUser);
    if (socket) setRealtimeState(socket.connected ? "online" : "offline");
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("home-title").tabIndex = -1;
  try {
    const { user } = await api("GET", "/api/auth/session");
    showUser(user);
    if (user) connectRealtime();
  } catch {
    showUser(null);
  }
}

start();
