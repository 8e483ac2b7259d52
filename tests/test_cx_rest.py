"""The CX REST API over real sockets (uvicorn on loopback in a thread, a real SQLite store
seeded with a week of calls through the store's API): the analytics report's numbers
against the seeded scenarios, a contact's measures, the CSV export, access and bad input."""

from __future__ import annotations

import csv
import io
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sentiment_svc.cx.analytics import AnalyticsTable
from sentiment_svc.domain.vocabulary import COMPLAINT_CATEGORIES, Channel
from sentiment_svc.storage.db import CallStore
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.web import analytics, rest
from tests.cx_seed import DAY_S, SCENARIOS, WEEK_START, calls_on, seed_week
from tests.test_rest import TOKENS, registry

WEEK = {"since": "2026-01-01", "until": "2026-01-08"}
DAYS = [f"2026-01-0{d}" for d in range(1, 8)]


@dataclass
class Seeded:
    url: str
    store: CallStore
    ids: list[str]

    def client(self, who: str | None = "qa") -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {TOKENS[who]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def serve(app: FastAPI) -> tuple[str, uvicorn.Server, threading.Thread, socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", uv, thread, sock


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    store = CallStore(tmp_path_factory.mktemp("cx-data"))
    ids = seed_week(store)
    app = FastAPI()
    app.state.store, app.state.db, app.state.tokens = store, StoreHop(store), registry()
    app.include_router(rest.router)
    app.include_router(analytics.router)
    url, uv, thread, sock = serve(app)
    try:
        yield Seeded(url, store, ids)
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


def scenario_of(call_id: str):
    return next(s for s in SCENARIOS if call_id.endswith(s.name))


def day_of(call_id: str) -> str:
    return DAYS[int(call_id.split("-")[0][1:])]


def tone(lines) -> float | None:
    if not lines:
        return None
    return statistics.fmean(line.sentiment.pos - line.sentiment.neg for line in lines)


@pytest.fixture(scope="module")
def week(seeded: Seeded) -> dict:
    with seeded.client() as client:
        answer = client.get("/v1/analytics", params=WEEK)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_report_covers_every_day_and_contact_of_the_week(seeded: Seeded, week: dict):
    assert week["days"] == DAYS
    assert len(week["contacts"]) == len(seeded.ids) == sum(calls_on(d) for d in range(7))
    assert [(r["day"], r["contacts"]) for r in week["cx_by_day"]] == [
        (DAYS[d], calls_on(d)) for d in range(7)
    ]
    for row in week["contacts"]:
        assert 1.0 <= row["csat"] <= 5.0 and 1.0 <= row["effort"] <= 5.0
    by_id = {row["call_id"]: row for row in week["contacts"]}
    calm = [by_id[i] for i in seeded.ids if i.endswith("calm_thanks")]
    dismissed = [by_id[i] for i in seeded.ids if i.endswith("waiting_dismissed")]
    assert min(r["csat"] for r in calm) > max(r["csat"] for r in dismissed)
    assert all(r["nps_risk"] == "high" for r in dismissed)  # threatens to leave, low CSAT
    assert all(r["nps_risk"] == "low" for r in calm)


def test_complaints_per_day_and_operator_match_the_seeded_calls(seeded: Seeded, week: dict):
    per_day: Counter = Counter()
    per_operator: Counter = Counter()
    for call_id in seeded.ids:
        said = {c for line in scenario_of(call_id).lines for c in line.categories}
        operator = seeded.store.get_call(call_id).operator_id
        for category in COMPLAINT_CATEGORIES:
            if category in said:
                per_day[(day_of(call_id), category.value)] += 1
                per_operator[(operator, category.value)] += 1
    assert {(r["day"], r["category"]): r["contacts"] for r in week["complaints_by_day"]} == (
        dict(per_day))
    assert {(r["operator_id"], r["category"]): r["contacts"]
            for r in week["complaints_by_operator"]} == dict(per_operator)


def test_follow_through_and_outcomes_match_the_seeded_prompts(seeded: Seeded, week: dict):
    expected = {day: Counter() for day in DAYS}
    to_address: dict[str, list[float]] = {day: [] for day in DAYS}
    sides: dict[bool, list] = {True: [], False: []}
    for call_id in seeded.ids:
        scenario, day = scenario_of(call_id), day_of(call_id)
        customer = [line for line in scenario.lines if line.channel is Channel.CUSTOMER]
        for prompt in scenario.prompts:
            dismissed = prompt.ack is not None and prompt.ack[0] == "dismissed"
            acknowledged = prompt.heard_at is not None or (prompt.ack is not None
                                                           and not dismissed)
            expected[day].update(alerts=1, acknowledged=acknowledged,
                                 addressed_in_speech=prompt.heard_at is not None,
                                 dismissed=dismissed,
                                 unanswered=not (acknowledged or dismissed))
            if prompt.heard_at is not None:
                to_address[day].append(prompt.heard_at - prompt.t)
            before = [c for c in customer if c.start + c.length <= prompt.t][-3:]
            after = [c for c in customer if c.start >= prompt.t][:3]
            sides[acknowledged].append((tone(before), tone(after)))
    for row in week["follow_through_by_day"]:
        counts = expected[row["day"]]
        assert {k: row[k] for k in counts} == {k: counts[k] for k in counts}, row["day"]
        seconds = to_address[row["day"]]
        assert row["mean_seconds_to_address"] == (
            pytest.approx(statistics.fmean(seconds), abs=1e-3) if seconds else None)
    addressed, not_addressed = week["alert_outcomes"]
    assert addressed["group"] == "addressed" and not_addressed["group"] == "not_addressed"
    for row, pairs in ((addressed, sides[True]), (not_addressed, sides[False])):
        assert row["alerts"] == len(pairs)
        assert row["mean_sentiment_before"] == pytest.approx(
            statistics.fmean(b for b, _ in pairs), abs=1e-3)
        assert row["mean_sentiment_after"] == pytest.approx(
            statistics.fmean(a for _, a in pairs), abs=1e-3)
    # the seeded week's story: acting on a prompt turned the call around; ignoring it did not
    assert addressed["mean_change"] > 0.5 > not_addressed["mean_change"]
    assert addressed["mean_final_csat"] > not_addressed["mean_final_csat"]


def test_a_contacts_measures_count_the_customers_earlier_contacts(seeded: Seeded):
    call_id = seeded.ids[-1]  # the week's last call: its customer called earlier in the week
    call = seeded.store.get_call(call_id)
    earlier = [i for i in seeded.ids
               if (c := seeded.store.get_call(i)).customer_id == call.customer_id
               and c.started_at < call.started_at]
    assert earlier
    with seeded.client("qa") as client:
        answer = client.get(f"/v1/calls/{call_id}/cx")
    assert answer.status_code == 200, answer.text
    measures = answer.json()["measures"]
    prior = next(r for r in measures["effort"]["reasons"] if r["code"] == "prior_contacts")
    assert prior["count"] == len(earlier)
    assert measures["csat"]["value"] == next(
        r["csat"] for r in seeded.client().get("/v1/analytics", params=WEEK).json()["contacts"]
        if r["call_id"] == call_id)


def test_customer_history_until_leaves_out_later_contacts(seeded: Seeded):
    everything = seeded.store.customer_history("cust-1", since=WEEK_START)
    first_days = seeded.store.customer_history("cust-1", since=WEEK_START,
                                               until=WEEK_START + 2 * DAY_S)
    assert 0 < first_days.previous_calls < everything.previous_calls


@pytest.mark.parametrize("table", list(AnalyticsTable))
def test_the_csv_holds_the_reports_numbers(seeded: Seeded, week: dict, table: AnalyticsTable):
    with seeded.client("supervisor") as client:
        answer = client.get(f"/v1/analytics/{table}.csv", params=WEEK)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert f"{table}-2026-01-01-2026-01-07.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text.removeprefix("\ufeff"))))
    expected = week[table.value]
    assert len(rows) == len(expected) > 0
    for got, want in zip(rows, expected, strict=True):
        assert list(got) == list(want)
        for key, value in want.items():
            if value is None:
                assert got[key] == ""
            elif isinstance(value, int | float) and not isinstance(value, bool):
                assert float(got[key]) == value, (key, got[key], value)
            else:
                assert got[key] == str(value)


@pytest.mark.parametrize(("who", "status"), [
    (None, 401), ("ingest", 403), ("op1", 403), ("supervisor", 200), ("qa", 200),
])
def test_analytics_access(seeded: Seeded, who: str | None, status: int):
    with seeded.client(who) as client:
        assert client.get("/v1/analytics", params=WEEK).status_code == status
        assert client.get("/v1/analytics/contacts.csv", params=WEEK).status_code == status


def test_an_operator_reads_only_its_own_contacts_measures(seeded: Seeded):
    own = next(i for i in seeded.ids if seeded.store.get_call(i).operator_id == "op-1")
    other = next(i for i in seeded.ids if seeded.store.get_call(i).operator_id == "op-2")
    with seeded.client("op1") as client:
        assert client.get(f"/v1/calls/{own}/cx").status_code == 200
        assert client.get(f"/v1/calls/{other}/cx").status_code == 404
        assert client.get("/v1/calls/no-such-call/cx").status_code == 404


def test_one_operators_report(seeded: Seeded):
    with seeded.client() as client:
        report = client.get("/v1/analytics", params={**WEEK, "operator_id": "op-2"}).json()
    assert report["contacts"] and {r["operator_id"] for r in report["contacts"]} == {"op-2"}
    assert {r["operator_id"] for r in report["complaints_by_operator"]} == {"op-2"}


@pytest.mark.parametrize(("params", "path", "detail"), [
    ({"since": "2026-01-08", "until": "2026-01-01"}, "/v1/analytics", "before"),
    ({"since": "2025-01-01", "until": "2026-01-01"}, "/v1/analytics", "at most 92 days"),
    ({"since": "last tuesday"}, "/v1/analytics", "ISO-8601"),
    ({"since": "nan", "until": "1e15"}, "/v1/analytics", "between 1970 and 9999"),
    ({"since": "-5", "until": "100"}, "/v1/analytics", "between 1970 and 9999"),
    (WEEK, "/v1/analytics/everything.csv", "Input should be"),
    ({**WEEK, "operator_id": "x" * 201}, "/v1/analytics", "at most 200"),
])
def test_bad_input_gets_a_clear_422(seeded: Seeded, params: dict, path: str, detail: str):
    before = seeded.store.list_calls(limit=1000)
    with seeded.client() as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 422 and detail in answer.text
    assert seeded.store.list_calls(limit=1000) == before


def test_the_default_window_is_the_last_seven_days(seeded: Seeded):
    with seeded.client() as client:
        report = client.get("/v1/analytics").json()
    assert len(report["days"]) == 7 and report["until"] - report["since"] == 7 * DAY_S
    assert report["contacts"] == []  # the seeded week is long past


def test_measuring_in_small_batches_gives_the_same_report(seeded: Seeded, week: dict,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(analytics, "BATCH", 4)  # 27 contacts: seven turns on the store thread
    with seeded.client() as client:
        assert client.get("/v1/analytics", params=WEEK).json() == week
