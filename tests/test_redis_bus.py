"""The Redis bus and the cluster's bookkeeping against a real `redis-server` on loopback
(`tests.redis_server`), without models: typed messages between two instances, the outbox
across a Redis restart, reaping a dead instance's calls by exactly one survivor, and
admission by recognition backlog. The whole service in processes: `test_cluster_live`."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from sentiment_svc.config import Settings
from sentiment_svc.domain.messages import AlertMessage, CallView, Message
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import Action, CallStatus, Protocol, Severity
from sentiment_svc.live.cluster import HEARTBEAT_TTL_S, INSTANCE_KEY, Cluster
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.live.redis_bus import RedisBus, RedisLink, connect
from sentiment_svc.live.service import CallRejected, Service
from sentiment_svc.storage.db import CallStore
from tests.redis_server import RedisServer
from tests.standins import ScriptedRecogniser, call_start, model_free_engines

DELIVERY_S = 5.0


def alert(n: int) -> AlertMessage:
    return AlertMessage(call_id=f"call-{n}", operator_id="op-1", alert_id=f"a-{n}", t=float(n),
                        action=Action.APOLOGY, severity=Severity.WARNING, reason="upset")


class Instance:
    """One instance's bus on the real Redis, with a feed subscribed to everything."""

    def __init__(self, url: str, name: str) -> None:
        self.metrics = Metrics()
        self.link = RedisLink(connect(url), self.metrics)
        self.bus = RedisBus(self.link, name, self.metrics)
        self.feed = self.bus.subscribe(lambda message: True)

    async def received(self, count: int) -> list[Message]:
        return [await asyncio.wait_for(self.feed.get(), DELIVERY_S) for _ in range(count)]

    async def close(self) -> None:
        await self.bus.close(flush_s=0.5)
        await self.link.client.aclose()


async def started(*instances: Instance) -> None:
    for instance in instances:
        instance.bus.start()
    deadline = time.monotonic() + DELIVERY_S
    while not all(instance.link.up for instance in instances):
        assert time.monotonic() < deadline, "the buses did not reach Redis"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the readers are past their first look at the stream


def test_a_message_reaches_the_other_instance_typed_and_its_own_feeds_once(redis_server):
    async def scenario() -> None:
        a, b = Instance(redis_server.url, "a"), Instance(redis_server.url, "b")
        try:
            await started(a, b)
            a.bus.publish(alert(1))
            assert await b.received(1) == [alert(1)]
            assert await a.received(1) == [alert(1)]  # at once, and not again from Redis
            await asyncio.sleep(0.5)
            assert a.feed.queue.empty() and b.feed.queue.empty()
            assert a.metrics.registry.get_sample_value("sentiment_redis_up") == 1
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_events_published_while_redis_is_down_arrive_in_order_when_it_returns(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.WARNING, logger="sentiment_svc.live.redis_bus")

    async def scenario() -> None:
        a, b = Instance(redis_server.url, "a"), Instance(redis_server.url, "b")
        try:
            await started(a, b)
            a.bus.publish(alert(0))
            assert await b.received(1) == [alert(0)] == await a.received(1)
            redis_server.stop()
            for n in range(1, 51):
                a.bus.publish(alert(n))
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)
            assert not a.link.up
            assert a.metrics.registry.get_sample_value("sentiment_redis_up") == 0
            assert a.bus.outbox == 50
            assert a.metrics.registry.get_sample_value("sentiment_bus_outbox") == 50
            assert [m.alert_id for m in await a.received(50)] == [f"a-{n}" for n in range(1, 51)]
            redis_server.start()  # empty: --save '' keeps nothing
            got = await b.received(50)
            assert [m.alert_id for m in got] == [f"a-{n}" for n in range(1, 51)]
            assert a.bus.outbox == 0 and a.link.up
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())
    down = [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    assert down and f"127.0.0.1:{redis_server.port}" in down[0]
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_the_calls_of_a_dead_instance_are_interrupted_by_exactly_one_survivor(
    redis_server, tmp_path,
):
    store = CallStore(tmp_path)
    for call_id, instance in (("c-dead-1", "dead"), ("c-dead-2", "dead"), ("c-alive", "alive")):
        store.start_call(CallOpened(
            call_id=call_id, operator_id="op-1", customer_id=None, language="ru",
            protocol=Protocol.NATIVE, started_at=time.time(), sample_rate=8000, channels=1,
            instance_id=instance,
        ))

    async def scenario() -> list[list[str]]:
        survivors = []
        for name in ("s1", "s2"):
            instance = Instance(redis_server.url, name)
            cluster = Cluster(
                instance.link, instance.bus, name, load=dict, local_views=list,
                live_instances=lambda: asyncio.to_thread(store.live_instances),
                mark_interrupted=lambda dead: asyncio.to_thread(
                    store.mark_instance_interrupted, dead, time.time()),
            )
            survivors.append((instance, cluster))
        try:
            await started(*(instance for instance, _ in survivors))
            client = survivors[0][0].link.client
            await client.set(INSTANCE_KEY.format("alive"), "{}", ex=60)
            for instance, _ in survivors:  # as if Redis had been up for a whole TTL
                instance.link.up_since = time.monotonic() - HEARTBEAT_TTL_S
            return list(await asyncio.gather(*(cluster.reap() for _, cluster in survivors)))
        finally:
            for instance, _ in survivors:
                await instance.close()

    reaped = asyncio.run(scenario())
    assert sorted(reaped, key=len) == [[], ["c-dead-1", "c-dead-2"]]
    statuses = {call.call_id: call.status for call in store.list_calls()}
    assert statuses == {"c-dead-1": CallStatus.INTERRUPTED, "c-dead-2": CallStatus.INTERRUPTED,
                        "c-alive": CallStatus.LIVE}
    assert store.live_instances() == ["alive"]
    store.close()


def test_a_remote_call_leaves_the_wall_when_its_state_stops_coming(redis_server, monkeypatch):
    import sentiment_svc.live.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "VIEW_STALE_S", 0.3)
    metrics = Metrics()
    link = RedisLink(connect(redis_server.url), metrics)
    cluster = Cluster(link, RedisBus(link, "me", metrics), "me", load=dict, local_views=list,
                      live_instances=list, mark_interrupted=list)  # type: ignore[arg-type]
    view = CallView(call_id="x", operator_id="op", protocol=Protocol.NATIVE, started_at=1.0,
                    duration=3.0, level="calm", score=0.0)
    assert cluster.heard("other", view) is False  # states go to the wall, not the feeds
    assert cluster.remote_views() == [view] and cluster.owner_of("x") == "other"
    time.sleep(0.4)
    assert cluster.remote_views() == [] and cluster.owner_of("x") is None


def test_a_call_is_refused_with_a_reason_while_the_recognition_backlog_is_too_long(tmp_path):
    service = Service(Settings(data_dir=tmp_path, max_backlog_s=5.0))
    service.engines = model_free_engines()
    recogniser = ScriptedRecogniser()
    service.scheduler = recogniser  # type: ignore[assignment]

    async def scenario() -> None:
        recogniser.backlog_s = 12.5
        with pytest.raises(CallRejected, match=r"recognition backlog is 12\.5 s \(over 5 s\)"):
            await service.open_call(call_start("busy"), Protocol.NATIVE)
        assert service.load() == {"live_calls": 0, "text_contacts": 0, "replays": 0,
                                  "backlog_s": 12.5, "recognizer_load": 0.0}
        recogniser.backlog_s = 1.0
        call = await service.open_call(call_start("fine"), Protocol.NATIVE)
        assert service.load()["live_calls"] == 1
        await service.close_call(call)
        assert service.store.get_call("busy") is None  # a refused call leaves nothing
        await service.shutdown()

    asyncio.run(scenario())
    value = service.metrics.registry.get_sample_value
    assert value("sentiment_calls_refused_total", {"reason": "backlog"}) == 1


def test_an_instance_announces_itself_with_its_load_and_an_expiry(redis_server):
    async def scenario() -> tuple[bytes | None, int, int]:
        instance = Instance(redis_server.url, "beating")
        cluster = Cluster(instance.link, instance.bus, "beating",
                          load=lambda: {"live_calls": 3, "backlog_s": 1.5}, local_views=list,
                          live_instances=list, mark_interrupted=list)  # type: ignore[arg-type]
        cluster.start()
        try:
            key = INSTANCE_KEY.format("beating")
            await asyncio.sleep(0.5)
            value, ttl = await instance.link.client.get(key), await instance.link.client.pttl(key)
        finally:
            await cluster.close()  # leaves at once
            gone = await instance.link.client.exists(key)
            await instance.close()
        return value, ttl, gone

    value, ttl, gone = asyncio.run(scenario())
    assert value is not None and json.loads(value) == {"live_calls": 3, "backlog_s": 1.5}
    assert 0 < ttl <= HEARTBEAT_TTL_S * 1000
    assert gone == 0
