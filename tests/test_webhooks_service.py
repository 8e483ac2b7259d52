"""CRM webhooks from the real service (`tests.live_server`): a real call streamed to it
reaches a generic receiver on loopback as signed events, and webhooks left pending by an
earlier process are delivered by the next one (on SQLite, and on PostgreSQL as an instance
of a cluster), counted on /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import load_client_call, stream_call
from sentiment_svc.protocols.clients import ClientCall
from tests.conftest import ANGRY_CALL
from tests.crm_server import CrmServer, open_store, opened, targets, wait_for
from tests.live_server import start_server
from tests.test_webhooks_delivery import Receiver, generic

FAST_RETRIES = {"webhook_backoff_s": 0.2, "webhook_backoff_max_s": 1.0, "webhook_poll_s": 0.05}


def config_file(tmp_path: Path, crm: CrmServer) -> Path:
    path = tmp_path / "sentiment.yaml"
    path.write_text(yaml.safe_dump({"webhooks": [generic(crm.url("/hooks"))]}))
    return path


def test_a_streamed_call_reaches_the_crm_as_signed_events(tmp_path: Path) -> None:
    receiver = Receiver()
    crm = CrmServer(receiver).start()
    live = start_server(tmp_path / "data", config_file=config_file(tmp_path, crm),
                        **FAST_RETRIES)
    try:
        call = load_client_call(ANGRY_CALL, CustomerChannel.MONO, "hook-call", "op-1", "auto")
        silence = np.zeros(4 * call.sample_rate, dtype=np.float32)  # time for the alert
        call = ClientCall(call.call_id, call.operator_id,
                          np.concatenate([call.customer, silence]), None, call.sample_rate,
                          customer_id="+7 916 555-01-42")
        result = asyncio.run(stream_call(call, live.ws, "native", speed=2.0))
        asyncio.run(wait_for(lambda: "contact_ended" in receiver.by_contact["hook-call"], 20,
                             "the ended contact's webhook"))
    finally:
        live.stop()
        crm.stop()
    assert receiver.rejected == 0
    order = receiver.by_contact["hook-call"]
    assert order[0] == "contact_started" and order[-1] == "contact_ended"
    assert "alert" in order  # the angry call raises at least one
    events = list(receiver.events.values())
    ended = events[-1]
    assert ended["status"] == "completed" and ended["summary"]["alerts"] >= 1
    assert ended["transcript"] and all(line["text"] for line in ended["transcript"])
    assert ended["customer_label"] == "+7 916 *** ** 42"  # never the number itself
    assert "555-01" not in str(events)
    alerts = [e for e in events if e["type"] == "alert"]
    assert {a["alert_id"] for a in alerts} == {a["alert_id"] for a in ended["alerts"]}
    assert len(alerts) == len([e for e in result.feed if e["type"] == "alert"])


def test_the_service_delivers_what_was_pending_when_it_starts(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    """Started over a store with undelivered webhooks (models are not needed for this: a
    missing model directory leaves the service up, refusing calls). On PostgreSQL the
    service is the restarted instance that left the call live."""
    receiver = Receiver()
    crm = CrmServer(receiver).start()
    data = tmp_path / "data"
    data.mkdir()
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    store = open_store(url or data, targets(generic(crm.url("/hooks"))))
    instance = {"database_url": url, "instance_id": "inst-a"} if url else {}
    # the earlier process died during this call
    store.start_call(opened("c-left-live").model_copy(update={"instance_id": url and "inst-a"}))
    store.close()
    live = start_server(data, wait_ready=False, config_file=config_file(tmp_path, crm),
                        models_dir=tmp_path / "no-models", **FAST_RETRIES, **instance)
    try:
        asyncio.run(wait_for(lambda: len(receiver.events) == 2, 20, "the service's webhooks"))
        metrics = httpx.get(f"{live.http}/metrics", timeout=5).text
    finally:
        live.stop()
        crm.stop()
    assert receiver.by_contact["c-left-live"] == ["contact_started", "contact_ended"]
    assert 'sentiment_webhooks_delivered_total{target="crm"} 2.0' in metrics
    assert 'sentiment_webhooks_pending{target="crm"}' in metrics
    assert "sentiment_webhook_failed_attempts_total" in metrics
