"""CRM webhooks end to end: contacts written through the real store, the outbox delivered by
the real worker over HTTP to a real server on loopback that verifies every signature with
the receivers' own check (`crm.signing.verify`). The CRM goes down, contacts end, it comes
back; answers get lost; the service restarts with webhooks pending. Each on both stores
(SQLite, PostgreSQL); and two instances sharing one PostgreSQL deliver each event once."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest

from sentiment_svc.crm import signing
from sentiment_svc.domain.codec import schemas
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.storage.hop import StoreHop
from tests.crm_server import (
    CrmServer,
    Received,
    Respond,
    delivering,
    open_store,
    opened,
    play_contact,
    targets,
    wait_for,
)

SECRET = "a-receivers-shared-secret-0123"
EVENT_ORDER = ["contact_started", "alert", "alert_acknowledged", "contact_ended"]
CONTACTS = 20
DOWNTIME_S = 6.0


class Receiver:
    """What a well-written receiver does: verify, then take each event once by its key."""

    def __init__(self) -> None:
        self.events: dict[str, dict] = {}  # idempotency key -> event
        self.by_contact: dict[str, list[str]] = defaultdict(list)
        self.rejected = 0

    def __call__(self, request: Received) -> tuple[int, dict]:
        try:
            signing.verify(SECRET, request.body, request.headers.get("x-sentiment-timestamp"),
                           request.headers.get("x-sentiment-signature"))
        except signing.SignatureError:
            self.rejected += 1
            return 401, {"error": "bad signature"}
        key = request.headers["idempotency-key"]
        if key not in self.events:
            event = request.json()
            self.events[key] = event
            self.by_contact[event["contact_id"]].append(event["type"])
        return 200, {"ok": True}


@pytest.fixture
def where(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """The store's place: a SQLite directory, or a fresh PostgreSQL database's URL."""
    return request.getfixturevalue("pg_url") if backend == "postgres" else tmp_path


def generic(url: str, **extra) -> dict:
    return {"name": "crm", "kind": "generic", "url": url, "secret": SECRET, **extra}


def samples(metric, target: str = "crm") -> float:
    return metric.labels(target)._value.get()


def test_crm_down_while_20_contacts_end_every_webhook_arrives_in_order(where: Path | str) -> None:
    receiver = Receiver()
    crm = CrmServer(receiver).start()
    crm.stop()  # down before the first contact starts
    config = targets(generic(crm.url("/hooks")))
    hop = StoreHop(open_store(where, config))
    metrics = Metrics()

    async def scenario() -> float:
        async with delivering(config, hop, metrics):
            await asyncio.gather(*(play_contact(hop, f"call-{i:02d}") for i in range(CONTACTS)))
            await asyncio.sleep(DOWNTIME_S)
            assert samples(metrics.webhook_failed_attempts) >= CONTACTS  # every head tried
            assert samples(metrics.webhooks_pending) == CONTACTS * len(EVENT_ORDER)
            assert samples(metrics.webhooks_delivered) == 0
            crm.start()  # back, on the same port
            back = time.monotonic()
            await wait_for(lambda: len(receiver.events) == CONTACTS * len(EVENT_ORDER), 30,
                           "every webhook")
            await wait_for(lambda: samples(metrics.webhooks_pending) == 0, 5, "empty outbox")
            return time.monotonic() - back

    try:
        took = asyncio.run(scenario())
    finally:
        crm.stop()
        hop.close()
    assert took < 10  # the capped backoff (1 s) brings them soon after the CRM is back
    assert receiver.rejected == 0
    assert set(receiver.by_contact) == {f"call-{i:02d}" for i in range(CONTACTS)}
    for contact, order in receiver.by_contact.items():
        assert order == EVENT_ORDER, contact
    # each event's key is its event id, and what arrived fits the published schema
    validator = jsonschema.Draft202012Validator(schemas()["webhooks"])
    for key, event in receiver.events.items():
        assert key == event["event_id"] and event["channel"] == "phone"
        validator.validate(event)
    ended = [e for e in receiver.events.values() if e["type"] == "contact_ended"]
    assert all(e["summary"]["csat_estimate"] == 2.4 for e in ended)
    assert all(e["alerts"][0]["outcomes"] == ["apologised"] for e in ended)
    assert all([line["text"] for line in e["transcript"]] ==
               ["Мне опять не помогли", "Простите, сейчас решим"] for e in ended)
    assert samples(metrics.webhooks_delivered) == CONTACTS * len(EVENT_ORDER)
    # within one contact, no event was sent before the earlier one had succeeded
    first_ok: dict[str, float] = {}
    for request in crm.requests():
        contact = request.json()["contact_id"]
        if request.headers["x-sentiment-event"] == "contact_started":
            first_ok.setdefault(contact, request.at)
        else:
            assert contact in first_ok and first_ok[contact] <= request.at


def test_a_tampered_or_stale_delivery_fails_the_receivers_check(where: Path | str) -> None:
    receiver = Receiver()
    crm = CrmServer(receiver).start()
    config = targets(generic(crm.url("/hooks")))
    hop = StoreHop(open_store(where, config))

    async def scenario() -> None:
        async with delivering(config, hop):
            await play_contact(hop, "c-1")
            await wait_for(lambda: len(receiver.events) == 4, 10, "the webhooks")

    try:
        asyncio.run(scenario())
    finally:
        crm.stop()
        hop.close()
    request = crm.requests()[-1]
    timestamp = request.headers["x-sentiment-timestamp"]
    signature = request.headers["x-sentiment-signature"]
    signing.verify(SECRET, request.body, timestamp, signature)  # as sent: valid
    tampered = request.body.replace(b'"completed"', b'"failed"')
    assert tampered != request.body
    with pytest.raises(signing.SignatureError, match="no signature matches"):
        signing.verify(SECRET, tampered, timestamp, signature)
    with pytest.raises(signing.SignatureError, match="no signature matches"):
        signing.verify("another-secret-of-16+chars", request.body, timestamp, signature)
    with pytest.raises(signing.SignatureError, match="from now"):
        signing.verify(SECRET, request.body, timestamp, signature,
                       now=int(timestamp) + signing.DEFAULT_TOLERANCE_S + 1)


def test_a_lost_answer_brings_the_same_event_again_with_the_same_key(where: Path | str) -> None:
    receiver = Receiver()
    seen: set[str] = set()

    def lose_first_answer(request: Received) -> tuple[int, dict]:
        status, body = receiver(request)  # the receiver took it...
        key = request.headers["idempotency-key"]
        if key not in seen:  # ...but the answer never reached the service
            seen.add(key)
            return 502, {"error": "gateway"}
        return status, body

    crm = CrmServer(lose_first_answer).start()
    config = targets(generic(crm.url("/hooks")))
    hop = StoreHop(open_store(where, config))

    async def scenario() -> None:
        async with delivering(config, hop):
            await asyncio.gather(*(play_contact(hop, f"c-{i}") for i in range(3)))
            await wait_for(lambda: len(crm.requests()) == 2 * 3 * 4, 20, "every resend")
            await asyncio.sleep(0.3)  # and nothing more

    try:
        asyncio.run(scenario())
    finally:
        crm.stop()
        hop.close()
    requests = crm.requests()
    assert len(requests) == 24
    by_key: dict[str, list[Received]] = defaultdict(list)
    for request in requests:
        by_key[request.headers["idempotency-key"]].append(request)
    assert len(by_key) == 12
    for copies in by_key.values():
        assert len(copies) == 2 and copies[0].body == copies[1].body  # the same event, twice
    assert len(receiver.events) == 12  # taken once each
    for order in receiver.by_contact.values():
        assert order == EVENT_ORDER


def test_pending_webhooks_survive_a_restart(where: Path | str) -> None:
    """Written while the CRM was down, the worker stopped with them pending; a new store
    and worker (a restarted process) deliver them, in order, and a call left live by the
    stop is reported ended (interrupted)."""
    receiver = Receiver()
    crm = CrmServer(receiver).start()
    crm.stop()
    config = targets(generic(crm.url("/hooks")))
    hop = StoreHop(open_store(where, config))

    async def before() -> None:
        async with delivering(config, hop):
            await asyncio.gather(*(play_contact(hop, f"c-{i}") for i in range(3)))
            await hop(hop.store.start_call, opened("c-live"))
            await asyncio.sleep(0.5)  # tries, fails

    asyncio.run(before())
    hop.close()
    crm.start()
    store = open_store(where, config)
    assert store.mark_unfinished_interrupted(time.time()) == ["c-live"]
    assert store.webhook_pending() == {"crm": 3 * 4 + 2}
    hop = StoreHop(store)

    async def after() -> None:
        async with delivering(config, hop):
            await wait_for(lambda: len(receiver.events) == 14, 15, "the pending webhooks")

    try:
        asyncio.run(after())
    finally:
        crm.stop()
        hop.close()
    for contact in ("c-0", "c-1", "c-2"):
        assert receiver.by_contact[contact] == EVENT_ORDER
    assert receiver.by_contact["c-live"] == ["contact_started", "contact_ended"]
    ended = next(e for e in receiver.events.values()
                 if e["contact_id"] == "c-live" and e["type"] == "contact_ended")
    assert ended["status"] == "interrupted" and ended["summary"] is None



def test_webhooks_of_a_target_no_longer_configured_wait_and_are_reported(
        where: Path | str, caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver()
    crm = CrmServer(receiver).start()
    before = targets(generic(crm.url("/hooks")), {**generic(crm.url("/old")), "name": "old"})
    store = open_store(where, before)
    store.start_call(opened("c-1"))
    store.close()
    now = targets(generic(crm.url("/hooks")))  # "old" was taken out of the config
    hop = StoreHop(open_store(where, now))

    async def scenario() -> None:
        async with delivering(now, hop):
            await wait_for(lambda: len(receiver.events) == 1, 10, "the configured target's")
            await asyncio.sleep(0.2)

    try:
        asyncio.run(scenario())
        assert hop.store.webhook_pending() == {"old": 1}
    finally:
        crm.stop()
        hop.close()
    assert all(request.path == "/hooks" for request in crm.requests())
    assert "1 webhooks wait for target old, which is no longer configured" in caplog.text


def test_two_instances_on_one_postgresql_deliver_each_webhook_once_in_order(pg_url: str
                                                                           ) -> None:
    """Two store objects and two workers on one database, as two instances of a cluster:
    a backlog both start on at once, then contacts played through each while both deliver.
    Every event reaches the CRM exactly once (the CRM answers every request with success,
    so a second copy could only be a double send), a contact's events in order, and both
    instances did part of the work."""
    crm = CrmServer(slowly(Receiver())).start()
    config = targets(generic(crm.url("/hooks")))
    hops = [StoreHop(open_store(pg_url, config)) for _ in range(2)]
    metrics = [Metrics(), Metrics()]
    backlog, live = 20, 10

    async def scenario() -> None:
        await asyncio.gather(*(play_contact(hops[i % 2], f"old-{i:02d}") for i in range(backlog)))
        async with delivering(config, hops[0], metrics[0]), \
                delivering(config, hops[1], metrics[1]):
            await asyncio.gather(*(play_contact(hops[i % 2], f"new-{i:02d}")
                                   for i in range(live)))
            total = (backlog + live) * len(EVENT_ORDER)
            await wait_for(lambda: len(crm.requests()) >= total, 30, "every webhook")
            await wait_for(lambda: sum(samples(m.webhooks_pending) for m in metrics) == 0, 5,
                           "empty outbox")
            await asyncio.sleep(0.5)  # and nothing more comes

    try:
        asyncio.run(scenario())
    finally:
        crm.stop()
        for hop in hops:
            hop.close()
    requests = crm.requests()
    keys = [request.headers["idempotency-key"] for request in requests]
    assert len(keys) == (backlog + live) * len(EVENT_ORDER) == len(set(keys))
    by_contact: dict[str, list[str]] = defaultdict(list)
    for request in requests:
        by_contact[request.json()["contact_id"]].append(request.headers["x-sentiment-event"])
    assert len(by_contact) == backlog + live
    for contact, order in by_contact.items():
        assert order == EVENT_ORDER, contact
    delivered = [samples(m.webhooks_delivered) for m in metrics]
    assert sum(delivered) == len(keys) and min(delivered) > 0, delivered


def slowly(respond: Respond, delay_s: float = 0.02) -> Respond:
    """A CRM that takes a moment to answer: the two instances' deliveries overlap."""
    def answer(request: Received) -> tuple[int, dict]:
        time.sleep(delay_s)
        return respond(request)
    return answer
