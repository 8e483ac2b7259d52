// Operator console: the current call's live transcript, the customer's mood, and prompts
// (alerts) with one-click acknowledgement. Follows /v1/operators/{id}/feed; after a
// reconnection it reads the call from the REST API and merges what it missed.

import { api, socketUrl } from "./api.js";
import { Feed } from "./feed.js";
import { clock, reasonKey, t } from "./i18n.js";
import {
  authMessage, connectionBadge, el, insertLine, lineKey, name, named, reasonNode, signed, signIn, svg,
  transcriptLine, tx,
} from "./ui.js";

// Acknowledgement outcomes, each with the action it answers (shown as the primary button).
const OUTCOMES = [["apologised", "apology"], ["offered_bonus", "bonus"],
                  ["called_supervisor", "supervisor"], ["dismissed", null]];
const ADOPT = new Set(["call_state", "partial", "utterance", "alert"]);  // a live call's events
const MOOD_WINDOW = 3;  // the gauge shows the mean of the customer's last utterances
const $ = (id) => document.getElementById(id);

let session = null;
let feed = null;
let call = null;
let sound = null;

const showStatus = connectionBadge($("conn"));
const signOut = signIn("console", { start, stop });
setInterval(renderClock, 1000);

function start(signedIn) {
  session = signedIn;
  sound = sound || makeSound();
  const path = `/v1/operators/${encodeURIComponent(session.operatorId)}/feed`;
  feed = new Feed(() => socketUrl(path, session.token), {
    onMessage,
    onOpen: () => {
      if (call?.id) sync();
      resendAcks();
    },
    onStatus: showStatus,
    onFatal: (code) => signOut(authMessage(code)),
  });
  feed.start();
  openCall(null);
}

function stop() {
  feed?.stop();
  feed = null;
  session = null;
  showStatus("off");
}

// -- feed events --------------------------------------------------------------------------
function onMessage(message) {
  const { type, call_id: callId } = message;
  if (type === "error") return ackFailed(message.message);
  if (!callId) return;
  if (type === "call_started") {
    if (call?.id !== callId) openCall(callId);
    return updateState(message);
  }
  if (!call?.id || (call.id !== callId && call.ended)) {
    if (!ADOPT.has(type)) return;
    openCall(callId);  // joined mid-call (page opened or reloaded): read what came before
    sync();
  }
  if (call.id !== callId) return;
  if (type === "call_state") updateState(message);
  else if (type === "partial") showPartial(message);
  else if (type === "utterance") addUtterance(message);
  else if (type === "alert") addAlert(message);
  else if (type === "alert_acked") markAcked(message.alert_id, message.outcome, message.source);
  else if (type === "customer_history") showHistory(message);
  else if (type === "customer_card") showCard(message);
  else if (type === "call_ended") {
    updateState(message);
    endCall();
  }
}

/** After a (re)connection: the call as stored, merged into what is shown. */
async function sync() {
  const id = call?.id;
  if (!id) return;
  let detail;
  try {
    detail = await api(`/v1/calls/${encodeURIComponent(id)}`, session?.token);
  } catch (error) {
    if (error.status === 401 || error.status === 403) signOut(authMessage(error.status));
    return;
  }
  if (call?.id !== id) return;
  call.startedAt = call.startedAt || detail.started_at;
  for (const utterance of detail.utterances) addUtterance(utterance);
  for (const alert of detail.alerts) addAlert(alert);
  if (detail.status !== "live" && !call.ended) {
    call.level = null;  // its last state went by while we were away
    endCall();
  }
}

// -- the call ---------------------------------------------------------------------------
function openCall(id) {
  call = {
    id, ended: false, level: id ? "calm" : null, duration: 0, durationAt: Date.now(), startedAt: null,
    lines: new Map(), partials: new Map(), moods: new Map(), alerts: new Map(),
  };
  $("transcript").replaceChildren();
  $("alerts").replaceChildren();
  $("call-empty").hidden = Boolean(id);
  $("alerts-empty").hidden = false;
  $("call-title").replaceChildren(id ? tx("span", "console.call", { id }) : "");
  $("call-history").replaceChildren();
  $("customer-card").hidden = true;
  for (const part of ["card-summary", "card-contacts", "card-open"]) $(part).replaceChildren();
  renderClock();
  renderGauge();
}

function updateState(message) {
  if (message.level) call.level = message.level;
  if (typeof message.duration === "number") {
    call.duration = message.duration;
    call.durationAt = Date.now();
  }
  call.startedAt = call.startedAt || message.started_at;
  if (message.contact_channel && call.channel !== message.contact_channel) {
    call.channel = message.contact_channel;  // a chat, messenger or e-mail contact
    $("call-title").replaceChildren(tx("span", `console.contact.${call.channel}`, { id: call.id }));
  }
  renderGauge();
  renderClock();
}

function endCall() {
  if (call.ended) return;
  call.ended = true;
  renderGauge();
  for (const line of call.partials.values()) line.remove();
  call.partials.clear();
  renderClock();
}

function renderClock() {
  const node = $("call-clock");
  if (!call?.id) return node.replaceChildren();
  if (call.ended) {
    const written = call.channel && call.channel !== "phone";  // a chat, messenger or e-mail
    return node.replaceChildren(tx("span", written ? "console.ended_text" : "console.ended"));
  }
  node.textContent = clock(call.duration + Math.min(2, (Date.now() - call.durationAt) / 1000));
}

function showHistory(history) {
  const categories = Object.keys(history.categories || {});
  $("call-history").replaceChildren(
    tx("span", "console.history", { n: history.previous_calls, days: history.days, bad: history.negative_calls }),
    categories.length ? " " : null,
    ...categories.map((c) => named("span", "category", c, { class: "chip" })));
}

// -- customer card: the customer's earlier contacts on every channel, in one glance -------
const DAY_MS = 86400000;

function daysAgo(epochSeconds) {
  const startOfDay = (ms) => new Date(ms).setHours(0, 0, 0, 0);
  return Math.round((startOfDay(Date.now()) - startOfDay(epochSeconds * 1000)) / DAY_MS);
}

function when(epochSeconds) {
  const days = daysAgo(epochSeconds);
  if (days <= 0) return { key: "card.today" };
  if (days === 1) return { key: "card.yesterday" };
  return { key: "card.days_ago", vars: { n: days } };
}

function chips(categories) {
  return categories.map((c) => named("span", "category", c, { class: "chip" }));
}

function showCard(card) {
  $("card-summary").replaceChildren(tx("span", "card.summary", { n: card.repeat_count, days: card.days }));
  $("card-contacts").replaceChildren(...card.contacts.map((contact) => el("li",
    { class: `card-contact outcome-${contact.outcome}`, dataset: { contactId: contact.contact_id, channel: contact.channel } },
    tx("span", "card.contact", {
      channel: name("channel", contact.channel), when: when(contact.started_at),
      outcome: { key: `card.outcome.${contact.outcome}` },
    }),
    contact.unresolved.length ? " " : null, chips(contact.unresolved),
    contact.last_ack ? tx("span", "card.last_ack", { outcome: { key: `outcome.${contact.last_ack}` } }, { class: "card-ack" }) : null)));
  const open = card.open_complaints.map((complaint) => complaint.category);
  $("card-open").replaceChildren(...(open.length ? [tx("span", "card.open"), " ", ...chips(open)] : []));
  $("customer-card").hidden = false;
}

// -- transcript -------------------------------------------------------------------------
function showPartial(message) {
  const finals = [...call.lines.keys()].filter((key) => key.startsWith(`${message.channel}|`));
  if (finals.some((key) => Number(key.split("|")[1]) >= message.start)) return;  // already final
  call.partials.get(message.channel)?.remove();
  const line = transcriptLine(message, true);
  call.partials.set(message.channel, line);
  insertLine($("transcript"), line);
}

function addUtterance(utterance) {
  const key = lineKey(utterance);
  if (call.lines.has(key)) return;
  const partial = call.partials.get(utterance.channel);
  if (partial && Number(partial.dataset.start) < utterance.end) {
    partial.remove();
    call.partials.delete(utterance.channel);
  }
  const line = transcriptLine(utterance);
  call.lines.set(key, line);
  insertLine($("transcript"), line);
  if (utterance.channel === "customer" && utterance.sentiment) {
    call.moods.set(key, [utterance.start, utterance.sentiment.pos - utterance.sentiment.neg]);
    renderGauge();
  }
}

// -- mood gauge ---------------------------------------------------------------------------
function moodValue() {
  const recent = [...call.moods.values()].sort((a, b) => a[0] - b[0]).slice(-MOOD_WINDOW);
  return recent.length ? recent.reduce((sum, [, v]) => sum + v, 0) / recent.length : null;
}

function renderGauge() {
  const value = call ? moodValue() : null;
  const level = call?.level || null;
  const point = (v, r) => {
    const angle = Math.PI * (1 - (v + 1) / 2);
    return [100 + r * Math.cos(angle), 100 - r * Math.sin(angle)].map((n) => n.toFixed(1)).join(" ");
  };
  const arc = (from, to, cls) => svg("path", { class: `arc ${cls}`, d: `M ${point(from, 80)} A 80 80 0 0 1 ${point(to, 80)}` });
  const needle = point(value ?? 0, 62).split(" ");
  const shown = value === null ? "—" : signed(value);
  $("gauge").replaceChildren(
    svg("svg", { viewBox: "0 0 200 112", role: "img", "data-i18n-label": "console.gauge",
                 "data-i18n-vars": JSON.stringify({ value: shown, level: level ? name("level", level) : "—" }),
                 "aria-label": t("console.gauge", { value: shown, level: level ? name("level", level) : "—" }) },
      arc(-1, -0.33, "neg"), arc(-0.33, 0.33, "neu"), arc(0.33, 1, "pos"),
      svg("line", { class: "needle", x1: 100, y1: 100, x2: needle[0], y2: needle[1] }),
      svg("circle", { class: "hub", cx: 100, cy: 100, r: 7 })),
    el("div", {},
      el("div", { class: "value", id: "mood-value" }, shown),
      level ? named("span", "level", level, { class: `badge level level-${level}`, id: "mood-level" }) : null));
}

// -- alerts -------------------------------------------------------------------------------
function addAlert(alert) {
  const id = alert.alert_id || `${alert.t}|${alert.action}`;
  if (call.alerts.has(id)) return;
  const titleId = `alert-${id.replace(/[^\w-]/g, "_")}`;
  const buttons = OUTCOMES.map(([outcome, answers]) => tx("button", `ack.${outcome}`, {}, {
    type: "button", class: answers === alert.action ? "primary" : null, dataset: { outcome },
    onclick: () => sendAck(id, outcome),
  }));
  const card = el("article", { class: `alert-card sev-${alert.severity} new`, "aria-labelledby": titleId, tabindex: "-1", dataset: { alertId: id, action: alert.action } },
    el("header", {},
      named("h3", "action", alert.action, { class: "action", id: titleId }),
      named("span", "severity", alert.severity, { class: "badge sev" }),
      tx("span", "console.at", { time: clock(alert.t) }, { class: "at" })),
    reasonNode("p", alert.reason, { class: "reason" }),
    alert.evidence?.length
      ? el("figure", {}, tx("figcaption", "console.evidence"), alert.evidence.map((quote) => el("blockquote", {}, quote)))
      : null,
    el("div", { class: "ack-buttons", role: "group", "aria-labelledby": titleId }, buttons),
    el("p", { class: "ack-state", role: "status" }));
  const entry = { id, alert, card, buttons, pending: null, acked: null };
  call.alerts.set(id, entry);
  const list = $("alerts");
  const later = [...list.children].find((node) => call.alerts.get(node.dataset.alertId).alert.t < alert.t);
  list.insertBefore(card, later || null);  // newest first
  $("alerts-empty").hidden = true;
  setTimeout(() => card.classList.remove("new"), 1500);
  const acks = alert.acks || [];
  if (acks.length) return markAcked(id, acks[acks.length - 1].outcome);
  announce(alert);
}

function announce(alert) {
  const key = reasonKey(alert.reason);
  $("announcer").textContent = t("console.announce", {
    action: name("action", alert.action), reason: key ? { key } : alert.reason || "",
  });
  if (alert.severity === "critical") {
    document.body.classList.remove("flash");
    void document.body.offsetWidth;  // restart the animation
    document.body.classList.add("flash");
    setTimeout(() => document.body.classList.remove("flash"), 2200);
    sound?.beep();
  }
}

function setAckState(entry, key, vars = {}) {
  entry.card.querySelector(".ack-state").replaceChildren(key ? tx("span", key, vars) : "");
}

function sendAck(id, outcome) {
  const entry = call.alerts.get(id);
  if (!entry || entry.acked) return;
  entry.pending = outcome;
  for (const button of entry.buttons) button.disabled = true;
  setAckState(entry, "ack.sending");
  feed?.send({ type: "ack", call_id: call.id, alert_id: id, outcome });  // else: on reconnect
}

function resendAcks() {
  for (const entry of call?.alerts.values() || []) {
    if (entry.pending && !entry.acked) {
      feed.send({ type: "ack", call_id: call.id, alert_id: entry.id, outcome: entry.pending });
    }
  }
}

function markAcked(id, outcome, source = "console") {
  const entry = call.alerts.get(id);
  if (!entry || entry.acked) return;
  const hadFocus = entry.card.contains(document.activeElement);
  entry.acked = outcome;
  entry.pending = null;
  entry.card.classList.add("acked");
  entry.card.dataset.outcome = outcome;
  for (const button of entry.buttons) button.remove();
  const key = source === "speech" ? "ack.by_speech" : "ack.done";  // heard, not clicked
  setAckState(entry, key, { outcome: { key: `outcome.${outcome}` } });
  if (hadFocus) entry.card.focus();
}

function ackFailed(message) {
  for (const entry of call?.alerts.values() || []) {
    if (!entry.pending) continue;
    entry.pending = null;
    for (const button of entry.buttons) button.disabled = false;
    setAckState(entry, "ack.failed", { message: message || "" });
  }
}

// -- sound --------------------------------------------------------------------------------
function makeSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  const context = new Context();
  // Browsers start audio only after a user gesture: resume on the first one if needed.
  const resume = () => context.state === "suspended" && context.resume();
  for (const type of ["pointerdown", "keydown"]) window.addEventListener(type, resume, { once: true });
  return {
    beep() {
      resume();
      const now = context.currentTime;
      [880, 660].forEach((frequency, i) => {
        const at = now + i * 0.22;
        const oscillator = context.createOscillator();
        const gain = context.createGain();
        oscillator.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
        oscillator.connect(gain).connect(context.destination);
        oscillator.start(at);
        oscillator.stop(at + 0.21);
      });
    },
  };
}
