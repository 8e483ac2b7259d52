// Small DOM helpers shared by the pages: element building, the sign-in form, the header's
// language switch and connection badge, and SVG sparklines.

import { clearSession, loadSession, saveSession } from "./api.js";
import { clock, has, languageSwitch, reasonKey, t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";

/** el("li", {class: "x", dataset: {k: "v"}, onclick: f}, child, "text", ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key === "className" ? "class" : key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** An element showing string `key` that follows language switches. */
export function tx(tag, key, vars = {}, attrs = {}) {
  return el(tag, { ...attrs, "data-i18n": key, "data-i18n-vars": JSON.stringify(vars) }, t(key, vars));
}

/** A server value's localised name (kind "action", "severity", "level", "category"...):
 * as a var for tx(), or the value itself when this version has no name for it. */
export function name(kind, value) {
  return has(`${kind}.${value}`) ? { key: `${kind}.${value}` } : String(value ?? "");
}

/** The same as plain text, for strings that need not follow a language switch. */
export function label(kind, value) {
  const known = name(kind, value);
  return typeof known === "object" ? t(known.key) : known;
}

export function named(tag, kind, value, attrs = {}) {
  const key = `${kind}.${value}`;
  return has(key) ? tx(tag, key, {}, attrs) : el(tag, attrs, String(value ?? ""));
}

/** An alert's reason, localised when it is one of the stock policy's. */
export function reasonNode(tag, text, attrs = {}) {
  const key = reasonKey(text);
  return key ? tx(tag, key, {}, attrs) : el(tag, attrs, text || "");
}

/**
 * The page's sign-in form (#signin, inputs named as the session's fields). `start(session)`
 * runs with the saved session (right after this returns) or once the form is submitted;
 * `stop()` when the user signs out. Returns `signOut(messageKey?)`, which shows the form
 * again with that message.
 */
export function signIn(page, { start, stop }) {
  const form = document.getElementById("signin");
  const app = document.getElementById("app");
  const error = document.getElementById("signin-error");
  const out = document.getElementById("signout");
  languageSwitch(document.getElementById("lang"));

  const show = (signedIn) => {
    form.closest("section").hidden = signedIn;
    app.hidden = !signedIn;
    out.hidden = !signedIn;
  };
  const begin = (session) => {
    show(true);
    start(session);
  };
  const signOut = (messageKey = "", vars = {}) => {
    clearSession(page);
    stop();
    show(false);
    error.replaceChildren(messageKey ? tx("span", messageKey, vars) : "");
    form.querySelector("input:not([type=hidden])")?.focus();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const session = Object.fromEntries(new FormData(form).entries());
    for (const key of Object.keys(session)) session[key] = String(session[key]).trim();
    error.replaceChildren();
    saveSession(page, session);
    begin(session);
  });
  out.addEventListener("click", () => signOut());
  queueMicrotask(() => {
    const saved = loadSession(page);
    if (saved) begin(saved);
    else show(false);
  });
  return signOut;
}

/** The message key for a 4401/4403 close or a 401/403 answer. */
export function authMessage(code) {
  return code === 4403 || code === 403 ? "signin.forbidden" : "signin.bad_token";
}

/** Keep the header's connection badge up to date from a Feed's status callback ("off"
 * hides it). */
export function connectionBadge(node) {
  let countdown = null;
  const show = (key, vars = {}) => {
    node.dataset.i18n = key;
    node.dataset.i18nVars = JSON.stringify(vars);
    node.textContent = t(key, vars);
  };
  return (state, detail = {}) => {
    clearInterval(countdown);
    if (state === "off") {  // signed out: no badge
      for (const key of ["i18n", "i18nVars", "state"]) delete node.dataset[key];
      node.textContent = "";
      return;
    }
    node.dataset.state = state;
    if (state === "retry") {
      const until = Date.now() + detail.delay;
      const tick = () => show("conn.retry", { s: Math.max(0, Math.ceil((until - Date.now()) / 1000)) });
      tick();
      countdown = setInterval(tick, 250);
    } else {
      show(`conn.${state}`);
    }
  };
}

/** An SVG polyline of values in [-1, 1] (newest right), in a width x height box. */
export function sparkline(values, width = 200, height = 40, label = "") {
  const box = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img", "aria-label": label,
  });
  const y = (v) => ((1 - Math.max(-1, Math.min(1, v))) / 2) * (height - 4) + 2;
  box.append(svg("line", { x1: 0, x2: width, y1: y(0), y2: y(0), class: "zero" }));
  if (values.length) {
    const step = values.length > 1 ? width / (values.length - 1) : 0;
    const points = values.map((v, i) => `${(values.length > 1 ? i * step : width / 2).toFixed(1)},${y(v).toFixed(1)}`);
    box.append(svg("polyline", { points: points.join(" "), class: "trend" }));
    const last = points[points.length - 1].split(",");
    box.append(svg("circle", { cx: last[0], cy: last[1], r: 3, class: values.at(-1) < 0 ? "neg" : "pos" }));
  }
  return box;
}

/** A sentiment value (pos - neg) as a signed string: "+0.42", "−0.85". */
export function signed(value) {
  const v = Number(value || 0);
  return (v < 0 ? "−" : "+") + Math.abs(v).toFixed(2);
}

// -- transcripts --------------------------------------------------------------------------
/** The key that identifies an utterance whether it came live or from the REST API. */
export function lineKey(utterance) {
  return `${utterance.channel}|${Number(utterance.start).toFixed(2)}`;
}

/** A transcript line: speaker, time, the customer's mood and complaint categories, text.
 * A partial (interim) line is greyed and ends in an ellipsis. */
export function transcriptLine(utterance, partial = false) {
  const { channel, sentiment, categories } = utterance;
  const mood = sentiment ? sentiment.pos - sentiment.neg : null;
  const showMood = !partial && channel === "customer" && mood !== null;
  return el("li", { class: `line ${channel}${partial ? " partial" : ""}`, dataset: { start: utterance.start, end: utterance.end } },
    el("div", {},
      named("span", "speaker", channel, { class: "who" }), " ",
      el("span", { class: "when" }, clock(utterance.start)),
      showMood ? [" ", el("span", { class: `mood ${mood < 0 ? "neg" : "pos"}` }, signed(mood))] : null,
      categories?.length
        ? [" ", el("span", { class: "cats" }, categories.map((c) => named("span", "category", c, { class: "chip" })))]
        : null,
      utterance.raised_voice ? [" ", named("span", "voice", "raised", { class: "chip voice" })] : null),
    el("p", {}, partial ? `${utterance.text}…` : utterance.text));
}

/** Insert a line in time order, keeping the list scrolled to the bottom if it was. */
export function insertLine(list, line) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const start = Number(line.dataset.start);
  const after = [...list.children].find((node) => Number(node.dataset.start) > start);
  list.insertBefore(line, after || null);
  if (atBottom) list.scrollTop = list.scrollHeight;
}
