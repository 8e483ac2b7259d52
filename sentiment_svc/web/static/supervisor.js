// Supervisor wall: every live call as a tile (operator, duration, mood sparkline, last
// prompt), riskiest first; a tile opens that call's live transcript ("watch").

import { api, socketUrl } from "./api.js";
import { Feed } from "./feed.js";
import { clock, t } from "./i18n.js";
import {
  authMessage, connectionBadge, el, insertLine, lineKey, named, signIn, sparkline,
  transcriptLine, tx,
} from "./ui.js";

const LEVEL_RANK = { critical: 3, escalated: 2, tense: 1, calm: 0 };
const STALE_MS = 5000;  // a live call with no state for this long has ended unseen
const ENDED_MS = 15000;  // an ended call's tile stays this long, greyed
const $ = (id) => document.getElementById(id);

let session = null;
let feed = null;
const calls = new Map();  // call_id -> {state, node, seenAt, receivedAt, endedAt}
let watched = null;  // {id, lines: Map, partials: Map}

const showStatus = connectionBadge($("conn"));
const signOut = signIn("supervisor", { start, stop });
$("watch-close").addEventListener("click", closeWatch);
setInterval(tick, 1000);

function start(signedIn) {
  session = signedIn;
  feed = new Feed(() => socketUrl("/v1/supervisor/feed", session.token), {
    onMessage,
    onOpen: () => {
      if (watched) {
        feed.send({ type: "watch", call_id: watched.id });
        loadTranscript(watched.id);
      }
    },
    onStatus: showStatus,
    onFatal: (code) => signOut(authMessage(code)),
  });
  feed.start();
  render();
}

function stop() {
  feed?.stop();
  feed = null;
  session = null;
  showStatus("off");
  closeWatch();
  for (const entry of calls.values()) entry.node.remove();
  calls.clear();
}

function onMessage(message) {
  const id = message.call_id;
  switch (message.type) {
    case "call_started":
    case "call_state":
      return upsert(message);
    case "alert": {
      const entry = calls.get(id);
      if (entry) {
        entry.state.last_alert = message;
        renderTile(entry);
        render();
      }
      return;
    }
    case "call_ended": {
      const entry = calls.get(id) || upsert(message);
      Object.assign(entry.state, message);
      entry.endedAt = Date.now();
      renderTile(entry);
      return render();
    }
    case "utterance":
    case "partial":
      if (watched?.id === id) addLine(message, message.type === "partial");
      return;
    default:
      return;
  }
}

function upsert(state) {
  let entry = calls.get(state.call_id);
  if (!entry) {
    const id = state.call_id;
    const tile = el("button", { type: "button", class: "tile", dataset: { callId: id }, onclick: () => openWatch(id) });
    entry = { state: {}, endedAt: null, tile, node: el("li", {}, tile) };
    calls.set(id, entry);
  }
  Object.assign(entry.state, state);
  entry.seenAt = entry.receivedAt = Date.now();
  renderTile(entry);
  render();
  return entry;
}

function duration(entry) {
  const { duration: seconds = 0 } = entry.state;
  return entry.endedAt ? seconds : seconds + Math.min(2, (Date.now() - entry.receivedAt) / 1000);
}

function renderTile(entry) {
  const { state, tile } = entry;
  const level = state.level || "calm";
  const last = state.last_alert;
  tile.className = `tile${entry.endedAt ? " ended" : ""}`;
  tile.dataset.level = level;
  tile.setAttribute("aria-pressed", String(watched?.id === state.call_id));
  tile.replaceChildren(
    el("span", { class: "row" },
      el("span", { class: "op" }, state.operator_id || ""),
      entry.endedAt
        ? tx("span", "wall.ended", {}, { class: "badge" })
        : named("span", "level", level, { class: `badge level level-${level}` })),
    el("span", { class: "row" },
      el("span", { class: "id" },
        state.contact_channel  // a chat, messenger or e-mail contact: say so, calls are the rule
          ? [named("span", "channel", state.contact_channel, { class: "badge channel" }), " "]
          : null,
        state.call_id),
      el("span", { class: "dur", dataset: { role: "duration" } }, clock(duration(entry)))),
    sparkline(state.sentiment_trend || [], 200, 36, t("wall.trend")),
    last
      ? el("span", { class: "last" },
        named("span", "severity", last.severity, { class: `badge sev-${last.severity}` }),
        named("strong", "action", last.action),
        el("span", { class: "quote" }, last.evidence?.[0] ? `«${last.evidence[0]}»` : ""))
      : tx("span", "wall.no_alert", {}, { class: "last muted" }));
}

/** Riskiest first: level, then escalation score; ended calls last. */
function order() {
  const rank = (entry) => [entry.endedAt ? 1 : 0, -(LEVEL_RANK[entry.state.level] ?? 0), -(entry.state.score || 0)];
  return [...calls.values()].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || a.state.call_id.localeCompare(b.state.call_id);
  });
}

function render() {
  const list = $("tiles");
  const wanted = order().map((entry) => entry.node);
  if (wanted.some((node, i) => list.children[i] !== node) || list.children.length !== wanted.length) {
    const focused = document.activeElement;
    list.replaceChildren(...wanted);
    if (list.contains(focused) && focused !== document.activeElement) focused.focus({ preventScroll: true });
  }
  const live = [...calls.values()].filter((entry) => !entry.endedAt).length;
  $("wall-empty").hidden = calls.size > 0;
  $("count").replaceChildren(tx("span", "wall.calls", { n: live }));
}

function tick() {
  const now = Date.now();
  let changed = false;
  for (const [id, entry] of calls) {
    const old = entry.endedAt ? now - entry.endedAt > ENDED_MS : now - entry.seenAt > STALE_MS && feed?.isOpen;
    const gone = old && watched?.id !== id;  // the watched call's tile stays until closed
    if (gone) {
      entry.node.remove();
      calls.delete(id);
      changed = true;
    } else if (!entry.endedAt) {
      const node = entry.node.querySelector("[data-role=duration]");
      if (node) node.textContent = clock(duration(entry));
    }
  }
  if (changed) render();
}

// -- the watched call's transcript ---------------------------------------------------------
function openWatch(id) {
  if (watched?.id === id) return;
  if (watched) feed?.send({ type: "unwatch", call_id: watched.id });
  watched = { id, lines: new Map(), partials: new Map() };
  feed?.send({ type: "watch", call_id: id });
  const state = calls.get(id)?.state || {};
  $("watch-call").replaceChildren(el("strong", {}, state.operator_id || ""), el("span", { class: "muted" }, id));
  $("watch-transcript").replaceChildren();
  $("watch").hidden = false;
  $("app").classList.add("watching");
  for (const entry of calls.values()) renderTile(entry);
  loadTranscript(id);
}

function closeWatch() {
  if (!watched) return;
  const id = watched.id;
  feed?.send({ type: "unwatch", call_id: id });
  watched = null;
  $("watch").hidden = true;
  $("app").classList.remove("watching");
  for (const entry of calls.values()) renderTile(entry);
  calls.get(id)?.tile.focus();
}

async function loadTranscript(id) {
  try {
    const detail = await api(`/v1/calls/${encodeURIComponent(id)}`, session?.token);
    if (watched?.id === id) for (const utterance of detail.utterances) addLine(utterance, false);
  } catch (error) {
    if (error.status === 401 || error.status === 403) signOut(authMessage(error.status));
  }
}

function addLine(utterance, partial) {
  const list = $("watch-transcript");
  const previous = watched.partials.get(utterance.channel);
  if (partial) {
    previous?.remove();
    const line = transcriptLine(utterance, true);
    watched.partials.set(utterance.channel, line);
    return insertLine(list, line);
  }
  const key = lineKey(utterance);
  if (watched.lines.has(key)) return;
  if (previous && Number(previous.dataset.start) < utterance.end) {
    previous.remove();
    watched.partials.delete(utterance.channel);
  }
  const line = transcriptLine(utterance);
  watched.lines.set(key, line);
  insertLine(list, line);
}

