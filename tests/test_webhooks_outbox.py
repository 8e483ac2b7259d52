"""The outbox in the store: webhook rows commit and roll back with the events they describe,
a contact's rows go out oldest first, erasure takes them; plus the signing scheme and the
targets' configuration (a bad one stops `serve` with a clear message, never a secret)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sentiment_svc.cli import main
from sentiment_svc.crm import signing
from sentiment_svc.crm.config import WebhookConfigError, WebhooksConfig
from sentiment_svc.crm.worker import Backoff
from sentiment_svc.domain.vocabulary import AckOutcome, CallStatus
from sentiment_svc.domain.webhooks import WEBHOOK_EVENT, ContactEndedEvent
from sentiment_svc.storage.db import CallExistsError, CallNotLiveError, CallStore, UnknownAlertError
from tests.crm_server import ALERT, opened

ALL = ["contact_started", "alert", "alert_acknowledged", "contact_ended"]
SECRET = "sixteen-chars-secret"


@pytest.fixture
def store(tmp_path: Path):
    store = CallStore(tmp_path, webhooks={"crm": ALL, "notes": ["contact_ended"]})
    yield store
    store.close()


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


def test_no_targets_no_rows(tmp_path: Path) -> None:
    store = CallStore(tmp_path)  # the embedded default: nothing configured
    store.start_call(opened("c1"))
    store.end_call("c1", CallStatus.COMPLETED, None, time.time())
    assert store.webhook_pending() == {}
    store.close()


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
    assert tuple(store._conn.execute("SELECT COUNT(*) FROM webhook_refs").fetchone()) == (0,)


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
