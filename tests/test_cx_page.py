"""The QA analytics page in headless Chromium against a real service on loopback whose store
holds a seeded week of calls: the plots are drawn (pixels on every canvas) from the same
numbers the API answers, the tables hold them too, and each table's CSV, downloaded from
the page, equals the table on the page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from sentiment_svc.cx.analytics import AnalyticsTable
from sentiment_svc.storage.db import CallStore
from tests.browser import chromium, open_tab
from tests.cx_seed import seed_week
from tests.live_server import TOKENS, LiveServer, secured_registry, start_server
from tests.test_pages import sign_in, wait_for_js

WEEK = {"since": "2026-01-01", "until": "2026-01-08"}
COMPLAINTS = ("not_helped", "repeat_contact", "waiting", "money", "rudeness",
              "escalation_request", "churn_threat", "legal_threat", "profanity")
PLOTS = ("cx_by_day", "complaints_by_day", "complaints_by_operator", "follow_through_by_day",
         "alert_outcomes")
MIN_INKED_PIXELS = 2000  # axes and labels alone leave fewer; bars and lines many more


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("cx-page")
    store = CallStore(data)
    seed_week(store)
    store.close()
    live = start_server(data, secured_registry(), wait_ready=False)  # models need not load
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def week(server: LiveServer) -> dict:
    answer = httpx.get(f"{server.http}/v1/analytics", params=WEEK, timeout=30,
                       headers={"Authorization": f"Bearer {TOKENS['qa']}"})
    answer.raise_for_status()
    return answer.json()


def show_week(page) -> None:
    page.fill("#from", "2026-01-01")
    page.fill("#to", "2026-01-07")
    page.click("#window [type=submit]")
    wait_for_js(page, "document.querySelector('#period span')?.dataset.i18n === 'cx.period'",
                30, "the week's report")


def chart_data(page, name: str) -> dict:
    return page.evaluate(
        """(name) => {
            const chart = Chart.getChart(document.getElementById(`chart-${name}`));
            return { labels: chart.data.labels,
                     datasets: Object.fromEntries(chart.data.datasets.map((d) => [d.key, d.data])),
                     names: Object.fromEntries(chart.data.datasets.map((d) => [d.key, d.label])) };
        }""",
        name,
    )


def inked_pixels(page, name: str) -> int:
    return page.evaluate(
        """(name) => {
            const canvas = document.getElementById(`chart-${name}`);
            const { width, height } = canvas;
            const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            let inked = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked += 1;
            return inked;
        }""",
        name,
    )


def page_table(page, name: str) -> list[dict[str, str]]:
    return page.evaluate(
        """(name) => [...document.querySelectorAll(`#table-${name} tbody tr`)].map((row) =>
            Object.fromEntries([...row.cells].map((td) => [td.dataset.column, td.dataset.value]))
        )""",
        name,
    )


def counts(rows: list[dict], key: str, labels: list[str]) -> dict[str, list[int]]:
    present = [c for c in COMPLAINTS if any(r["category"] == c for r in rows)]
    return {c: [sum(r["contacts"] for r in rows if r["category"] == c and r[key] == label)
                for label in labels] for c in present}


def test_the_page_plots_the_seeded_week_from_the_apis_numbers(server, browser, week):
    tab = open_tab(browser, server.http + "/qa/analytics", "en-US")
    page = tab.page
    sign_in(page, TOKENS["qa"])
    show_week(page)
    for name in PLOTS:
        assert inked_pixels(page, name) > MIN_INKED_PIXELS, f"{name} is not drawn"
    by_day = chart_data(page, "cx_by_day")
    assert by_day["labels"] == week["days"]
    for key in ("mean_csat", "mean_effort"):
        assert by_day["datasets"][key] == [row[key] for row in week["cx_by_day"]]
    complaints = chart_data(page, "complaints_by_day")
    assert complaints["datasets"] == counts(week["complaints_by_day"], "day", week["days"])
    assert sum(map(sum, complaints["datasets"].values())) == sum(
        r["contacts"] for r in week["complaints_by_day"]) > 0
    operators = chart_data(page, "complaints_by_operator")
    assert operators["labels"] == ["op-1", "op-2", "op-3"]
    assert operators["datasets"] == counts(week["complaints_by_operator"], "operator_id",
                                           operators["labels"])
    follow = chart_data(page, "follow_through_by_day")
    for key in ("acknowledged", "addressed_in_speech", "dismissed", "unanswered",
                "mean_seconds_to_address"):
        assert follow["datasets"][key] == [row[key] for row in week["follow_through_by_day"]]
    outcomes = chart_data(page, "alert_outcomes")
    assert outcomes["labels"] == ["Addressed", "Not addressed"]
    for key in ("mean_sentiment_before", "mean_sentiment_after", "mean_final_csat"):
        assert outcomes["datasets"][key] == [row[key] for row in week["alert_outcomes"]]
    tab.screenshot("cx-analytics-en")
    # another language: the same numbers, the names translated
    page.select_option("#lang", "uk")
    assert chart_data(page, "complaints_by_day")["names"]["money"] == "Гроші"
    assert chart_data(page, "alert_outcomes")["labels"] == ["Виконана", "Не виконана"]
    assert chart_data(page, "complaints_by_day")["datasets"] == complaints["datasets"]
    expect(page.locator("#t-contacts")).to_have_text("Звернення")
    tab.screenshot("cx-analytics-uk")
    tab.assert_no_errors()
    tab.close()


def test_each_tables_csv_equals_the_table_on_the_page(server, browser, week):
    tab = open_tab(browser, server.http + "/qa/analytics", "ru-RU")
    page = tab.page
    sign_in(page, TOKENS["qa"])
    show_week(page)
    for table in AnalyticsTable:
        shown = page_table(page, table.value)
        assert len(shown) == len(week[table.value]) > 0
        with page.expect_download() as waiting:
            page.click(f"#csv-{table.value}")
        download = waiting.value
        assert download.suggested_filename == f"{table.value}-2026-01-01-2026-01-07.csv"
        text = Path(download.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == len(shown)
        for in_csv, on_page in zip(rows, shown, strict=True):
            assert set(in_csv) == set(on_page)
            for column, value in on_page.items():
                try:
                    assert float(in_csv[column]) == float(value), (table, column)
                except ValueError:
                    assert in_csv[column] == value, (table, column)
    # the page shows the names, the CSV the values: Russian on the page, "money" in the file
    money = page.locator("#table-complaints_by_day td[data-value=money]").first
    expect(money).to_have_text("Деньги")
    first = week["contacts"][0]["call_id"]  # a contact opens in the QA review
    expect(page.locator("#table-contacts a").first).to_have_attribute("href", f"/qa#call={first}")
    tab.assert_no_errors()
    tab.close()


def test_an_operators_token_may_not_open_the_analytics(server, browser):
    tab = open_tab(browser, server.http + "/qa/analytics", "en-US")
    page = tab.page
    sign_in(page, TOKENS["op1"])
    expect(page.locator("#signin-error")).to_have_text("This token may not open this console.")
    expect(page.locator("#app")).to_be_hidden()
    tab.assert_no_errors(allowed=("Failed to load resource",))
    tab.close()
