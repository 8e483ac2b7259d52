"""The outbox in the store, on both backends (SQLite and PostgreSQL): webhook rows commit
and roll back with the events they describe, a contact's rows go out oldest first, erasure
takes them; on PostgreSQL, a row claimed by one instance's worker is not handed to another
until released or lapsed. Plus the signing scheme and the targets' configuration (a bad one
stops `serve` with a clear message, never a secret)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sentiment_svc.cli import main
from sentiment_svc.crm import signing
from sentiment_svc.crm.config import WebhookConfigError, WebhooksConfig
from sentiment_svc.crm.worker import Backoff
from sentiment_svc.domain.vocabulary import AckOutcome, CallStatus, ContactChannel
from sentiment_svc.domain.webhooks import WEBHOOK_EVENT, ContactEndedEvent
from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.db import CallExistsError, CallNotLiveError, UnknownAlertError
from sentiment_svc.storage.postgres import PgCallStore
from tests.crm_server import ALERT, opened
from tests.stores import MakeStore, count_rows

ALL = ["contact_started", "alert", "alert_acknowledged", "contact_ended"]
SECRET = "sixteen-chars-secret"
TARGETS = {"crm": ALL, "notes": ["contact_ended"]}

CallStore = CallRepository  # the tests below run on both backends


@pytest.fixture
def store(make_store: MakeStore) -> Iterator[CallRepository]:
    return make_store(webhooks=TARGETS)


def pending(store: CallStore) -> list[tuple[str, str]]:
    rows, _ = store.webhook_due("crm", time.time() + 1, 100)
    heads = [(row.contact_id, str(row.event_type)) for row in rows]
    return heads


def test_each_write_commits_its_webhooks_and_a_refused_one_writes_none(store: CallStore) -> None:
    store.start_call(opened("c1"))
    with pytest.raises(CallExistsError):
        store.start_call(opened("c1"))
    alert_id = store.add_alert("c1", ALERT)
    with pytest.raises(UnknownAlertError):
        store.add_ack("c1", "no-such-alert", "op-1", AckOutcome.DISMISSED, time.time(), 1.0)
    assert store.add_ack("c1", alert_id, "op-1", AckOutcome.APOLOGISED, time.time(), 2.0)
    # a double click is stored once, and reported once
    assert not store.add_ack("c1", alert_id, "op-1", AckOutcome.APOLOGISED, time.time(), 3.0)
    store.end_call("c1", CallStatus.COMPLETED, None, time.time())
    with pytest.raises(CallNotLiveError):
        store.end_call("c1", CallStatus.FAILED, None, time.time())
    assert store.webhook_pending() == {"crm": 4, "notes": 1}
    types = []
    while rows := store.webhook_due("crm", time.time() + 1, 10)[0]:
        (row,) = rows  # one contact: only its oldest row is ever due
        types.append(str(row.event_type))
        store.webhook_delivered(row.id)
    assert types == ALL


def test_no_targets_no_rows(make_store: MakeStore) -> None:
    store = make_store()  # nothing configured
    store.start_call(opened("c1"))
    store.end_call("c1", CallStatus.COMPLETED, None, time.time())
    assert store.webhook_pending() == {}


def test_a_failed_head_holds_back_its_contact_only(store: CallStore) -> None:
    store.start_call(opened("a"))
    store.start_call(opened("b"))
    store.end_call("a", CallStatus.COMPLETED, None, time.time())
    heads, count = store.webhook_due("crm", time.time() + 1, 10)
    assert [(r.contact_id, str(r.event_type)) for r in heads] == [
        ("a", "contact_started"), ("b", "contact_started")]
    assert count == 3
    store.webhook_failed(heads[0].id, "HTTP 503", time.time() + 60)
    # a's started is waiting to be retried: a's ended is not due before it; b is
    assert pending(store) == [("b", "contact_started")]
    rows, _ = store.webhook_due("crm", time.time() + 120, 10)
    assert rows[0].contact_id == "a" and rows[0].attempts == 1
    store.webhook_step_done(rows[0].id, "register", {"call_id": "B-1"})
    (again,), _ = store.webhook_due("crm", time.time() + 120, 1)
    assert again.done_steps == {"register"} and again.refs == {"call_id": "B-1"}


def test_the_ended_event_carries_summary_alerts_and_transcript(store: CallStore) -> None:
    store.start_call(opened("c1"))
    alert_id = store.add_alert("c1", ALERT)
    store.add_ack("c1", alert_id, "op-1", AckOutcome.DISMISSED, time.time(), 4.0)
    store.end_call("c1", CallStatus.INTERRUPTED, None, time.time())
    rows, _ = store.webhook_due("notes", time.time() + 1, 10)
    event = WEBHOOK_EVENT.validate_json(rows[0].payload)
    assert isinstance(event, ContactEndedEvent)
    assert event.status == "interrupted" and event.summary is None
    assert [(a.alert_id, a.outcomes) for a in event.alerts] == [(alert_id, ("dismissed",))]
    assert json.loads(rows[0].payload)["event_id"] == rows[0].event_id


def test_erasing_a_customer_erases_their_undelivered_webhooks(store: CallStore) -> None:
    store.start_call(opened("c1", customer="cust-x"))
    store.start_call(opened("c2", customer="cust-y"))
    store.end_call("c1", CallStatus.COMPLETED, None, time.time())
    row = store.webhook_due("crm", time.time() + 1, 10)[0][0]
    store.webhook_step_done(row.id, "register", {"call_id": "B-1"})
    customer = opened("c1", customer="cust-x").customer_id
    assert store.delete_customer(customer) == 1
    assert store.webhook_pending() == {"crm": 1}
    assert count_rows(store, "webhook_refs") == 0


def test_interrupted_calls_and_text_contacts_are_reported(store: CallStore) -> None:
    """An unfinished call closed at start-up gets its ended event in that transaction; a
    chat's events carry its channel."""
    store.start_call(opened("c-live"))
    store.start_call(opened("chat-1", channel=ContactChannel.CHAT))
    assert store.mark_unfinished_interrupted(time.time()) == ["c-live", "chat-1"]
    rows, _ = store.webhook_due("notes", time.time() + 1, 10)
    events = [WEBHOOK_EVENT.validate_json(row.payload) for row in rows]
    assert [(e.contact_id, e.status, e.channel) for e in events] == [
        ("c-live", "interrupted", "phone"), ("chat-1", "interrupted", "chat")]


def test_a_claimed_row_goes_to_no_other_instance_until_released_or_lapsed(pg_url: str) -> None:
    """Two store objects on one PostgreSQL database are two instances: the head row one of
    them took is not the other's to send (nor is the contact's next row) until the first
    reports failure, closes, or its claim lapses. (One SQLite file has one worker.)"""
    opened_stores: list[PgCallStore] = []

    def make_store(**kwargs) -> PgCallStore:
        opened_stores.append(PgCallStore(pg_url, **kwargs))
        return opened_stores[-1]

    try:
        _claims(make_store)
    finally:
        for each in opened_stores:
            each.close()


def _claims(make_store) -> None:
    first = make_store(webhooks=TARGETS, claim_s=30)
    second = make_store(webhooks=TARGETS, claim_s=30)
    first.start_call(opened("a"))
    first.end_call("a", CallStatus.COMPLETED, None, time.time())
    second.start_call(opened("b"))
    now = time.time()
    taken, count = first.webhook_due("crm", now, 10)  # claimed up to now + 30
    assert [(r.contact_id, str(r.event_type)) for r in taken] == [
        ("a", "contact_started"), ("b", "contact_started")]
    assert second.webhook_due("crm", now, 10) == ([], count)  # a's ended waits for a's started
    first.webhook_failed(taken[1].id, "HTTP 503", now)  # b released: due again at once
    time.sleep(0.5)
    first.webhook_step_done(taken[0].id, "register", {"call_id": "B-7"})
    # a's claim would have lapsed at now + 30, but the step renewed it: second gets b only
    (b_again,), _ = second.webhook_due("crm", now + 30.2, 10)
    assert (b_again.contact_id, b_again.attempts) == ("b", 1)
    # `first` dies mid-delivery of a's started: its claim lapses, then `second` sends it
    a_again, b_held = second.webhook_due("crm", now + 31, 10)[0]  # and b, its own claim
    assert (a_again.id, b_held.id) == (taken[0].id, b_again.id)
    assert a_again.id == taken[0].id and a_again.refs == {"call_id": "B-7"}
    assert a_again.done_steps == {"register"}
    # a store that closes gives back what it held: the next instance takes it at once
    second.close()
    third = make_store(webhooks=TARGETS, claim_s=30)
    assert {r.contact_id for r in third.webhook_due("crm", now, 10)[0]} == {"a", "b"}


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    import random

    backoff, rng = Backoff(base_s=1.0, max_s=30.0), random.Random(7)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (40, 30)]:
        delays = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 40  # jittered: retries of many contacts spread out


def test_signatures_verify_and_refuse() -> None:
    body = b'{"type":"alert"}'
    headers = signing.signed_headers(SECRET, body, now=1_765_000_000)
    timestamp, signature = headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    signing.verify(SECRET, body, timestamp, signature, now=1_765_000_100)
    rotated = f"v1={'0' * 64}, {signature}"  # a receiver between two secrets
    signing.verify(SECRET, body, timestamp, rotated, now=1_765_000_000)
    for args, message in [
        ((SECRET, body + b" ", timestamp, signature), "no signature matches"),
        ((SECRET, body, str(int(timestamp) + 1), signature), "no signature matches"),
        ((SECRET, body, None, signature), "missing"),
        ((SECRET, body, "soon", signature), "not an integer"),
    ]:
        with pytest.raises(signing.SignatureError, match=message):
            signing.verify(*args, now=1_765_000_000)
    with pytest.raises(signing.SignatureError, match="from now"):
        signing.verify(SECRET, body, timestamp, signature, now=1_765_000_301)


@pytest.mark.parametrize(("entry", "problem"), [
    ({"kind": "generic", "url": "https://crm.example/h"}, "secret: Field required"),
    ({"kind": "generic", "url": "https://crm.example/h", "secret": "short-but-secret"[:10]},
     "at least 16 characters"),
    ({"kind": "webhook", "url": "https://crm.example/h", "secret": SECRET},
     "kind: must be one of generic, bitrix24, amocrm"),
    ({"kind": "generic", "url": "ftp://crm.example/h", "secret": SECRET}, "url:"),
    ({"kind": "generic", "url": "https://crm.example/h", "secret": SECRET,
      "events": ["call_started"]}, "events.0"),
    ({"kind": "bitrix24", "url": "https://x.bitrix24.ru/rest/1/c0de-secret-value/"},
     "default_user_id: Field required"),
    ({"kind": "amocrm", "url": "https://x.amocrm.ru", "token": "t0ken-secret-value",
      "events": ["alert"]}, "'contact_ended' only"),
    ({"kind": "amocrm", "url": "https://x.amocrm.ru"}, "token: Field required"),
])
def test_a_bad_target_is_named_without_its_secrets(entry: dict, problem: str) -> None:
    with pytest.raises(WebhookConfigError) as caught:
        WebhooksConfig.from_entries([{"name": "t", **entry}], "sentiment.yaml")
    message = str(caught.value)
    assert message.startswith("sentiment.yaml: webhooks[0]: ") and problem in message
    for secret in ("c0de-secret-value", "t0ken-secret-value", "short-but-"):
        assert secret not in message


def test_two_targets_with_one_name_are_refused() -> None:
    entry = {"name": "crm", "kind": "generic", "url": "https://a.example/h", "secret": SECRET}
    with pytest.raises(WebhookConfigError, match=r"webhooks\[1\]: the name 'crm' is used twice"):
        WebhooksConfig.from_entries([entry, entry], "sentiment.yaml")


def test_serve_stops_at_start_on_a_bad_webhook_target(tmp_path: Path) -> None:
    config = tmp_path / "sentiment.yaml"
    config.write_text(yaml.safe_dump({"tokens": [], "webhooks": [
        {"name": "b24", "kind": "bitrix24", "url": "https://x.bitrix24.ru/rest/1/c0de-secret/",
         "default_user_id": "one"}]}))
    result = CliRunner().invoke(main, ["serve", "--config", str(config),
                                       "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert f"{config}: webhooks[0]: default_user_id:" in result.output
    assert "c0de-secret" not in result.output
    assert not (tmp_path / "data").exists()  # stopped before anything was created
