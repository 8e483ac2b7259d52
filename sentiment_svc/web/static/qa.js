// Quality review: search stored calls; a call's recording with its transcript in sync, the
// customer's mood over time with prompt markers, acknowledgements, export, and a replay
// through the live pipeline at 1-8x.

import { api, download, socketUrl } from "./api.js";
import { clock, language, reasonKey, t } from "./i18n.js";
import {
  authMessage, el, label, name, named, reasonNode, signed, signIn, svg, transcriptLine, tx,
} from "./ui.js";

const CATEGORIES = ["not_helped", "repeat_contact", "waiting", "money", "rudeness", "escalation_request",
                    "churn_threat", "legal_threat", "profanity", "gratitude"];
const SEEK_BEFORE_ALERT_S = 2;
const PAGE = 50;
const $ = (id) => document.getElementById(id);

let session = null;
let shown = null;  // the open call: {detail, lines: [[utterance, node]], audioUrl, playhead}
let replay = null;
let replayStarting = false;  // a ticket is being fetched
let nextOffset = null;

const signOut = signIn("qa", { start, stop });
$("category").append(...CATEGORIES.map((c) => named("option", "category", c, { value: c })));
$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  search(0);
});
$("more").addEventListener("click", () => search(nextOffset));
$("back").addEventListener("click", () => {
  location.hash = "";
});
$("export-json").addEventListener("click", () => exportCall("json"));
$("export-csv").addEventListener("click", () => exportCall("csv"));
$("replay-start").addEventListener("click", startReplay);
$("replay-stop").addEventListener("click", () => replay?.close(1000, "stopped"));
$("player").addEventListener("timeupdate", follow);
window.addEventListener("hashchange", route);

function start(signedIn) {
  session = signedIn;
  search(0);
  route();
}

function stop() {
  session = null;
  closeCall();
  $("rows").replaceChildren();
}

function failed(error) {
  if (error.status === 401 || error.status === 403) return signOut(authMessage(error.status));
  $("found").textContent = error.message;
}

// -- search -------------------------------------------------------------------------------
function epoch(value) {
  return value ? String(new Date(value).getTime() / 1000) : "";  // datetime-local is local time
}

async function search(offset) {
  const form = Object.fromEntries(new FormData($("search")).entries());
  const params = { ...form, since: epoch(form.since), until: epoch(form.until), limit: PAGE, offset };
  let page;
  try {
    page = await api("/v1/calls", session.token, { params });
  } catch (error) {
    return failed(error);
  }
  const rows = page.calls.map(resultRow);
  if (offset === 0) $("rows").replaceChildren(...rows);
  else $("rows").append(...rows);
  nextOffset = page.next_offset;
  $("more").hidden = nextOffset === null;
  const count = $("rows").children.length;
  $("results").hidden = count === 0;
  $("found").replaceChildren(tx("span", count ? "qa.found" : "qa.none", { n: count }));
}

function callDuration(call) {
  return call.summary?.duration ?? (call.ended_at ? call.ended_at - call.started_at : null);
}

function resultRow(call) {
  const started = new Date(call.started_at * 1000).toLocaleString(language());
  const seconds = callDuration(call);
  return el("tr", { dataset: { callId: call.call_id } },
    el("td", { class: "num" }, started),
    el("td", {}, call.operator_id),
    el("td", { class: "channel" }, named("span", "channel", call.contact_channel || "phone")),
    el("td", { class: "num" }, seconds === null ? "—" : clock(seconds)),
    el("td", { class: "num" }, String(call.alert_count)),
    el("td", {}, el("span", { class: "chips" }, call.categories.map((c) => named("span", "category", c, { class: "chip" })))),
    el("td", {}, named("span", "status", call.status)),
    el("td", {}, el("a", { href: `#call=${encodeURIComponent(call.call_id)}`, "aria-label": `${t("qa.open")} ${call.call_id}` },
      tx("span", "qa.open"))));
}

// -- one call -----------------------------------------------------------------------------
function route() {
  if (!session) return;
  const match = location.hash.match(/^#call=(.+)$/);
  if (match) openCall(decodeURIComponent(match[1]));
  else {
    closeCall();
    $("search-view").hidden = false;
    $("call-view").hidden = true;
  }
}

async function openCall(id) {
  let detail;
  try {
    detail = await api(`/v1/calls/${encodeURIComponent(id)}`, session.token);
  } catch (error) {
    location.hash = "";
    return failed(error);
  }
  closeCall();
  shown = { detail, lines: [], audioUrl: null };
  $("search-view").hidden = true;
  $("call-view").hidden = false;
  $("call-title").replaceChildren(tx("span", "qa.call", { id }));
  $("call-meta").textContent = `${t(`channel.${detail.contact_channel || "phone"}`)} · ${detail.operator_id} · ${new Date(detail.started_at * 1000).toLocaleString(language())}`;
  renderTranscript(detail);
  renderSummary(detail);
  renderAcks(detail);
  renderCurve(detail);
  $("replay-events").replaceChildren();
  $("replay-status").replaceChildren();
  $("back").focus();
  await loadRecording(detail);
}

function closeCall() {
  replay?.close(1000, "closed");
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.load();
  if (shown?.audioUrl) URL.revokeObjectURL(shown.audioUrl);
  shown = null;
}

async function loadRecording(detail) {
  const player = $("player");
  $("no-recording").hidden = detail.recording;
  player.hidden = !detail.recording;
  if (!detail.recording) return;
  try {
    const blob = await api(`/v1/calls/${encodeURIComponent(detail.call_id)}/recording`, session.token, { as: "blob" });
    if (shown?.detail !== detail) return;
    shown.audioUrl = URL.createObjectURL(blob);
    player.src = shown.audioUrl;
  } catch (error) {
    $("no-recording").hidden = false;
    player.hidden = true;
    if (error.status === 401 || error.status === 403) failed(error);
  }
}

function seek(seconds) {
  const player = $("player");
  player.currentTime = Math.max(0, seconds);
  player.play().catch(() => {});
}

function renderTranscript(detail) {
  const list = $("qa-transcript");
  shown.lines = detail.utterances.map((utterance) => {
    const line = transcriptLine(utterance);
    line.tabIndex = 0;
    line.dataset.i18nTitle = "qa.play_from";
    line.dataset.i18nVars = JSON.stringify({ time: clock(utterance.start) });
    line.title = t("qa.play_from", { time: clock(utterance.start) });
    line.addEventListener("click", () => seek(utterance.start));
    line.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        seek(utterance.start);
      }
    });
    return [utterance, line];
  });
  list.replaceChildren(...shown.lines.map(([, line]) => line));
}

/** Highlight the utterance being played and move the curve's playhead. */
function follow() {
  if (!shown) return;
  const now = $("player").currentTime;
  for (const [utterance, line] of shown.lines) {
    const playing = utterance.start <= now && now < utterance.end;
    if (playing && !line.classList.contains("playing")) {
      const list = line.parentElement;
      if (line.offsetTop < list.scrollTop || line.offsetTop + line.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = line.offsetTop - list.offsetTop - 8;
      }
    }
    line.classList.toggle("playing", playing);
    if (playing) line.setAttribute("aria-current", "true");
    else line.removeAttribute("aria-current");
  }
  shown.playhead?.(now);
}

function renderSummary(detail) {
  const summary = detail.summary || {};
  const rows = [
    ["qa.duration", callDuration(detail) === null ? "—" : clock(callDuration(detail))],
    ["qa.status", name("status", detail.status)],
    ["qa.csat", summary.csat_estimate === undefined ? "—" : `${Number(summary.csat_estimate).toFixed(1)} / 5`],
    ["qa.negative_share", summary.negative_share === undefined ? "—" : `${Math.round(summary.negative_share * 100)}%`],
  ];
  $("summary").replaceChildren(...rows.flatMap(([key, value]) => [
    tx("dt", key), typeof value === "object" ? tx("dd", value.key) : el("dd", {}, String(value)),
  ]));
}

function renderAcks(detail) {
  $("acks").replaceChildren(...detail.alerts.map((alert) => {
    const ack = alert.acks[alert.acks.length - 1];
    return el("div", { class: `ack-item sev-${alert.severity}`, dataset: { alertId: alert.alert_id } },
      el("div", { class: "top" },
        named("strong", "action", alert.action),
        named("span", "severity", alert.severity, { class: "badge sev" }),
        tx("button", "qa.play_from", { time: clock(alert.t) }, { type: "button", onclick: () => seek(alert.t - SEEK_BEFORE_ALERT_S) })),
      reasonNode("div", alert.reason),
      el("dl", {},
        tx("dt", "qa.outcome"),
        ack ? el("dd", { class: "outcome" }, tx("span", `outcome.${ack.outcome}`), ` · ${ack.operator_id}`)
          : tx("dd", "qa.not_acked", {}, { class: "outcome" }),
        tx("dt", "qa.time_to_address"),
        ack ? tx("dd", "unit.s", { n: Math.round(ack.seconds_to_ack * 10) / 10 }, { class: "tta" }) : el("dd", {}, "—")));
  }));
}

// -- the mood curve -------------------------------------------------------------------------
function renderCurve(detail) {
  const [W, H, L, R, T, B] = [900, 190, 34, 12, 22, 24];
  const customer = detail.utterances.filter((u) => u.channel === "customer");
  const duration = Math.max(1, callDuration(detail) || 0, ...detail.utterances.map((u) => u.end),
                            ...detail.alerts.map((a) => a.t));
  const x = (seconds) => L + (Math.min(seconds, duration) / duration) * (W - L - R);
  const y = (value) => T + ((1 - value) / 2) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "curve", role: "group", "aria-labelledby": "curve-title",
                             "data-i18n-label": "qa.curve_label", "aria-label": t("qa.curve_label") });
  chart.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  for (const [value, text] of [[1, "+1"], [0, "0"], [-1, "−1"]]) {
    chart.append(svg("line", { class: value === 0 ? "zero" : "axis", x1: L, x2: W - R, y1: y(value), y2: y(value) }));
    chart.append(svg("text", { class: "label", x: L - 6, y: y(value) + 4, "text-anchor": "end" }, text));
  }
  const step = [5, 10, 15, 30, 60, 120, 300, 600, 1800].find((s) => duration / s <= 10) || 3600;
  for (let s = 0; s <= duration; s += step) {
    chart.append(svg("text", { class: "label", x: x(s), y: H - 6, "text-anchor": "middle" }, clock(s)));
  }
  const points = customer.map((u) => [x((u.start + u.end) / 2), y(u.sentiment.pos - u.sentiment.neg), u]);
  if (points.length > 1) {
    chart.append(svg("polyline", { class: "line-path", points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ") }));
  }
  for (const [px, py, u] of points) {
    const value = u.sentiment.pos - u.sentiment.neg;
    chart.append(svg("circle", { class: `dot ${value < 0 ? "neg" : "pos"}`, cx: px, cy: py, r: 5 },
      svg("title", {}, `${clock(u.start)} ${signed(value)}`)));
  }
  for (const alert of detail.alerts) chart.append(alertMarker(alert, x(alert.t), T, H - B));
  const playhead = svg("line", { class: "playhead", x1: L, x2: L, y1: T - 4, y2: H - B, visibility: "hidden" });
  chart.append(playhead);
  shown.playhead = (seconds) => {
    playhead.setAttribute("x1", x(seconds));
    playhead.setAttribute("x2", x(seconds));
    playhead.setAttribute("visibility", "visible");
  };
  $("curve").replaceChildren(chart);
}

function alertMarker(alert, px, top, bottom) {
  const from = Math.max(0, alert.t - SEEK_BEFORE_ALERT_S);
  const key = reasonKey(alert.reason);
  const vars = { time: clock(alert.t), action: name("action", alert.action), from: clock(from) };
  const marker = svg("g", {
    class: `marker sev-${alert.severity}`, role: "button", tabindex: "0", dataset: { t: alert.t, alertId: alert.alert_id },
    "data-i18n-label": "qa.marker", "data-i18n-vars": JSON.stringify(vars), "aria-label": t("qa.marker", vars),
  },
    svg("rect", { class: "hit", x: px - 9, y: top - 20, width: 18, height: bottom - top + 20 }),
    svg("line", { x1: px, x2: px, y1: top, y2: bottom }),
    svg("path", { d: `M ${px - 8} ${top - 16} h 16 l -8 13 z` }),
    svg("title", {}, key ? t(key) : alert.reason));
  const go = () => seek(from);
  marker.addEventListener("click", go);
  marker.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      go();
    }
  });
  return marker;
}

// -- export and replay ----------------------------------------------------------------------
async function exportCall(format) {
  if (!shown) return;
  const id = shown.detail.call_id;
  try {
    const blob = await api(`/v1/calls/${encodeURIComponent(id)}/export`, session.token, { params: { format }, as: "blob" });
    download(blob, `${id.replace(/[^\w.-]/g, "_")}.${format}`);
  } catch (error) {
    failed(error);
  }
}

async function startReplay() {
  if (!shown || replay || replayStarting) return;
  const id = shown.detail.call_id;
  const speed = $("speed").value;
  const list = $("replay-events");
  list.replaceChildren();
  $("replay-status").replaceChildren(tx("span", "qa.replay_running", { speed }));
  $("replay-start").hidden = true;
  $("replay-stop").hidden = false;
  replayStarting = true;
  let url;
  try {
    url = await socketUrl(`/v1/calls/${encodeURIComponent(id)}/replay`, session.token, { speed });
  } catch (error) {
    $("replay-start").hidden = false;
    $("replay-stop").hidden = true;
    $("replay-status").replaceChildren(tx("span", "qa.replay_failed", { message: error.message }));
    return;
  } finally {
    replayStarting = false;
  }
  const socket = new WebSocket(url);
  replay = socket;
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    const at = message.type === "alert" ? message.t : message.start;
    list.append(el("li", { class: message.type },
      el("span", { class: "mono" }, at === undefined ? "" : clock(at)),
      named("span", "event", message.type),
      el("span", { class: "text" }, eventText(message))));
    list.scrollTop = list.scrollHeight;
  });
  socket.addEventListener("close", (event) => {
    if (replay === socket) replay = null;
    $("replay-start").hidden = false;
    $("replay-stop").hidden = true;
    const done = event.code === 1000;
    $("replay-status").replaceChildren(done ? tx("span", "qa.replay_done")
      : tx("span", "qa.replay_failed", { message: event.reason || String(event.code) }));
  });
}

function eventText(message) {
  if (message.type === "utterance" || message.type === "partial") {
    return `${label("speaker", message.channel)}: ${message.text}${message.type === "partial" ? "…" : ""}`;
  }
  if (message.type === "alert") {
    const key = reasonKey(message.reason);
    return `${label("action", message.action)} (${label("severity", message.severity)}) — ${key ? t(key) : message.reason}`;
  }
  if (message.type === "replay_started") return `${message.speed}×`;
  if (message.type === "replay_ended" && message.summary) {
    return `${t("qa.csat")}: ${message.summary.csat_estimate ?? "—"}`;
  }
  return "";
}
