// CX analytics for QA: a period's CSAT and effort per day, complaint categories per day and
// per operator, prompt follow-through, and whether calls got better after an addressed
// prompt. Plots by Chart.js (vendor/chart.umd.min.js, loaded before this module as the
// global `Chart`); under each plot the same numbers as a table, and its CSV download.

import { api, download } from "./api.js";
import { t } from "./i18n.js";
import { authMessage, el, label, signIn, tx } from "./ui.js";

const Chart = window.Chart;
const DEFAULT_DAYS = 7;
const COMPLAINTS = ["not_helped", "repeat_contact", "waiting", "money", "rudeness", "escalation_request",
                    "churn_threat", "legal_threat", "profanity"];
const COLORS = {
  not_helped: "#0b57a4", repeat_contact: "#6a3d9a", waiting: "#e7b416", money: "#2b6a3a",
  rudeness: "#a64b00", escalation_request: "#1f9bb0", churn_threat: "#b3261e", legal_threat: "#5c4033",
  profanity: "#7b8897", mean_csat: "#2b6a3a", mean_effort: "#a64b00", acknowledged: "#0b57a4",
  addressed_in_speech: "#2b6a3a", dismissed: "#7b8897", unanswered: "#b3261e",
  mean_seconds_to_address: "#16191d", mean_sentiment_before: "#b3261e", mean_sentiment_after: "#2b6a3a",
  mean_final_csat: "#0b57a4",
};
// Each table's columns, in the API's (and the CSV's) order.
const COLUMNS = {
  cx_by_day: ["day", "contacts", "mean_csat", "mean_effort", "high_risk", "medium_risk", "low_risk"],
  complaints_by_day: ["day", "category", "contacts"],
  complaints_by_operator: ["operator_id", "category", "contacts"],
  follow_through_by_day: ["day", "alerts", "acknowledged", "addressed_in_speech", "dismissed", "unanswered",
                          "mean_seconds_to_address", "mean_seconds_to_ack"],
  alert_outcomes: ["group", "alerts", "mean_sentiment_before", "mean_sentiment_after", "mean_change",
                   "mean_final_csat"],
  contacts: ["call_id", "day", "operator_id", "csat", "effort", "nps_risk", "nps_points"],
};
const NAMED = { category: "category", nps_risk: "risk", group: "alert_group" };  // column -> names
const $ = (id) => document.getElementById(id);

let session = null;
let shown = null;  // the report on screen
const charts = {};

const signOut = signIn("analytics", { start, stop });
$("window").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
window.addEventListener("languagechange-ui", () => shown && render(shown));
for (const figure of document.querySelectorAll(".figure")) {
  const name = figure.dataset.table;
  figure.querySelector("h2").after(el("div", { class: "row-buttons" },
    el("button", { type: "button", id: `csv-${name}`, onclick: () => exportCsv(name) }, tx("span", "cx.csv"))));
  figure.append(el("table", { id: `table-${name}`, class: "results" }));
}

function start(signedIn) {
  session = signedIn;
  if (!$("from").value || !$("to").value) {
    const today = new Date();
    $("to").value = isoDate(today);
    $("from").value = isoDate(new Date(today.getTime() - (DEFAULT_DAYS - 1) * 86400000));
  }
  load();
}

function stop() {
  session = null;
  shown = null;
  for (const name of Object.keys(charts)) {
    charts[name].destroy();
    delete charts[name];
  }
  for (const table of document.querySelectorAll(".figure table")) table.replaceChildren();
}

function isoDate(date) {
  return date.toISOString().slice(0, 10);  // the UTC date, as the report's days
}

function params() {
  const until = new Date(`${$("to").value}T00:00:00Z`);
  until.setUTCDate(until.getUTCDate() + 1);  // "to" is inclusive; the API's until is not
  return { since: $("from").value, until: isoDate(until), operator_id: $("operator").value.trim() };
}

function failed(error) {
  if (error.status === 401 || error.status === 403) return signOut(authMessage(error.status));
  $("period").textContent = error.message;
}

async function load() {
  let report;
  try {
    report = await api("/v1/analytics", session.token, { params: params() });
  } catch (error) {
    return failed(error);
  }
  shown = report;
  render(report);
}

async function exportCsv(name) {
  try {
    const blob = await api(`/v1/analytics/${name}.csv`, session.token, { params: params(), as: "blob" });
    download(blob, `${name}-${$("from").value}-${$("to").value}.csv`);
  } catch (error) {
    failed(error);
  }
}

// -- tables -------------------------------------------------------------------------------
function render(report) {
  const days = report.days;
  $("period").replaceChildren(report.contacts.length
    ? tx("span", "cx.period", { from: days[0], to: days[days.length - 1], n: report.contacts.length })
    : tx("span", "cx.none"));
  for (const [name, columns] of Object.entries(COLUMNS)) table(name, columns, report[name]);
  draw(report);
}

function cell(column, value) {
  const raw = value === null || value === undefined ? "" : String(value);
  let text = NAMED[column] && raw ? label(NAMED[column], raw) : raw;
  if (column === "call_id") text = el("a", { href: `/qa#call=${encodeURIComponent(raw)}` }, raw);  // its review
  return el("td", { class: typeof value === "number" ? "num" : null, dataset: { column, value: raw } }, text);
}

function table(name, columns, rows) {
  const head = el("thead", {}, el("tr", {}, columns.map((c) => tx("th", `cx.col.${c}`, {}, { scope: "col" }))));
  const body = el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => cell(c, row[c])))));
  $(`table-${name}`).replaceChildren(head, body);
}

// -- plots --------------------------------------------------------------------------------
function dataset(key, data, extra = {}) {
  const text = COMPLAINTS.includes(key) ? label("category", key) : t(`cx.col.${key}`);
  return { key, label: text, data, backgroundColor: COLORS[key], borderColor: COLORS[key], ...extra };
}

function plot(name, config) {
  charts[name]?.destroy();
  const options = { animation: false, responsive: true, maintainAspectRatio: false, ...config.options };
  charts[name] = new Chart($(`chart-${name}`), { ...config, options });
}

function counts(rows, key, labels) {
  const present = COMPLAINTS.filter((category) => rows.some((row) => row.category === category));
  return present.map((category) => dataset(category, labels.map((value) => {
    const row = rows.find((r) => r.category === category && r[key] === value);
    return row ? row.contacts : 0;
  })));
}

function draw(report) {
  const days = report.days;
  const column = (rows, key) => rows.map((row) => row[key]);
  plot("cx_by_day", {
    type: "line",
    data: { labels: days, datasets: ["mean_csat", "mean_effort"].map((k) => dataset(k, column(report.cx_by_day, k))) },
    options: { scales: { y: { min: 1, max: 5, title: { display: true, text: t("cx.axis.scale") } } } },
  });
  plot("complaints_by_day", {
    type: "bar",
    data: { labels: days, datasets: counts(report.complaints_by_day, "day", days) },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, grace: "5%", ticks: { precision: 0 } } } },
  });
  const operators = [...new Set(report.complaints_by_operator.map((row) => row.operator_id))].sort();
  plot("complaints_by_operator", {
    type: "bar",
    data: { labels: operators, datasets: counts(report.complaints_by_operator, "operator_id", operators) },
    options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
                                         y: { stacked: true } } },
  });
  const follow = report.follow_through_by_day;
  plot("follow_through_by_day", {
    type: "bar",
    data: {
      labels: days,
      datasets: [
        ...["acknowledged", "addressed_in_speech", "dismissed", "unanswered"].map((k) => dataset(k, column(follow, k))),
        dataset("mean_seconds_to_address", column(follow, "mean_seconds_to_address"), { type: "line", yAxisID: "seconds" }),
      ],
    },
    options: { scales: {
      y: { beginAtZero: true, grace: "10%", ticks: { precision: 0 } },
      seconds: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                 title: { display: true, text: t("cx.axis.seconds") } },
    } },
  });
  const outcomes = report.alert_outcomes;
  plot("alert_outcomes", {
    type: "bar",
    data: {
      labels: outcomes.map((row) => label("alert_group", row.group)),
      datasets: [
        ...["mean_sentiment_before", "mean_sentiment_after"].map((k) => dataset(k, column(outcomes, k))),
        dataset("mean_final_csat", column(outcomes, "mean_final_csat"), { yAxisID: "csat" }),
      ],
    },
    options: { scales: {
      y: { min: -1, max: 1, title: { display: true, text: t("cx.axis.mood") } },
      csat: { position: "right", min: 0, max: 5, grid: { drawOnChartArea: false },
              title: { display: true, text: t("cx.axis.scale") } },
    } },
  });
}
