// Application shell: log-in, the live socket.io link, and a small hash router:
//   #/                      staff dashboard (requests, on-call queue)
//   #/consultations/<id>    the consultation room
//   /join#<token>           a patient's link: pre-join, waiting room, room

import { api, ApiError } from "./api.js";
import { clear, h } from "./dom.js";
import { AdminHome } from "./admin.js";
import { Home } from "./home.js";
import { applyTranslations, setLanguage, t } from "./i18n.js";
import { PatientJoin, patientSessionToken } from "./join.js";
import { joinErrorKey } from "./explain.js";
import { RoomMedia } from "./media.js";
import { call, connect, disconnect, onState } from "./realtime.js";
import { Room } from "./room.js";

const $ = (id) => document.getElementById(id);
let currentUser = null;
let currentView = null;
let realtimeState = "offline";

function setRealtimeState(state) {
  realtimeState = state;
  const el = $("rt-status");
  el.dataset.state = state;
  el.textContent = t(`rt.${state}`);
}

function showUser(user) {
  currentUser = user;
  $("login").hidden = !!user;
  $("home").hidden = !user;
  document.querySelector(".intro").hidden = !!user || location.pathname === "/join";
  if (!user) return;
  $("user-name").textContent = user.full_name;
  $("user-role").textContent = t(`role.${user.role}`);
  $("user-facility").textContent = user.facility ? user.facility.name : t("none");
}

function stopView() {
  currentView?.stop?.();
  currentView = null;
}

async function staffRoom(kind, id) {
  const root = clear($("view"));
  root.append(h("p", { role: "status", i18n: "room.joining" }));
  const training = kind === "trainings";
  const consultationId = training ? null : id;
  let token;
  try {
    token = (await api("POST", `/api/${kind}/${id}/token`)).token;
  } catch (err) {
    root.replaceChildren(h("p", { class: "error", role: "alert", i18n: joinErrorKey(err, { training }) }));
    return;
  }
  const media = new RoomMedia();
  const answer = await call("room.join", { token, media_session: media.session }).catch((err) => {
    media.close();
    root.replaceChildren(h("p", { class: "error", role: "alert", i18n: joinErrorKey(err, { training }) }));
    return null;
  });
  if (!answer) return;
  const room = new Room(root, {
    joinAnswer: answer,
    media,
    staffConsultationId: consultationId,
    training,
    onLeave: (message) => {
      clearInterval(refresh);
      currentView = null;
      location.hash = "#/";
      if (message) alert(message);
    },
  });
  // Room tokens are short-lived: renew while connected, rejoin with the newest.
  const refresh = setInterval(async () => {
    token = (await call("room.refresh").catch(() => ({ token }))).token;
  }, 5 * 60 * 1000);
  room.rejoin = () => call("room.join", { token, media_session: media.session });
  currentView = {
    stop: () => {
      clearInterval(refresh);
      room.leave();
    },
  };
  await room.start();
}

async function route() {
  stopView();
  const root = $("view");
  const match = location.hash.match(/^#\/(consultations|trainings)\/([\w-]+)$/);
  if (match) return staffRoom(match[1], match[2]);
  const home = currentUser.role === "admin" ? new AdminHome(clear(root)) : new Home(clear(root), currentUser);
  currentView = home;
  await home.start();
}

async function patientFlow() {
  showUser(null);
  $("login").hidden = true;
  const root = $("view");
  const flow = new PatientJoin(root, {
    onAdmitted: async (answer, media) => {
      const room = new Room(clear(root), {
        joinAnswer: answer,
        media,
        patientToken: patientSessionToken,
        onLeave: (message) => {
          clear(root).append(h("p", { class: "card", role: "status" }, message ?? t("room.ended")));
        },
      });
      room.rejoin = answer.rejoin;
      await room.start();
    },
    onFinished: (message) => clear(root).append(h("p", { class: "card", role: "status" }, message)),
  });
  await flow.start();
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
    await enter(user);
    $("home-title").focus();
  } catch (err) {
    error.textContent =
      err instanceof ApiError ? `${t("login.failed")}: ${err.message}` : t("login.network");
  }
}

async function enter(user) {
  showUser(user);
  disconnect(); // a socket opened before log-in carries no identity
  connect();
  await route();
}

async function onLogout() {
  stopView();
  disconnect();
  clear($("view"));
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
    setRealtimeState(realtimeState);
  });
  onState(setRealtimeState);
  setRealtimeState("connecting");
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("home-title").tabIndex = -1;
  if (location.pathname === "/join") return patientFlow();
  window.addEventListener("hashchange", () => currentUser && route());
  try {
    const { user } = await api("GET", "/api/auth/session");
    if (user) await enter(user);
    else showUser(null);
  } catch {
    showUser(null);
  }
}

start();
