"""The cluster as `docker-compose.yml` runs it, on loopback: three `serve` processes sharing a
real PostgreSQL (`SENTIMENT_DATABASE_URL`) and a real Redis (`SENTIMENT_REDIS_URL`), behind
a real nginx running `deploy/nginx.conf` (least_conn, websocket upgrades).

Six calls streamed through nginx at once: the supervisor wall of instance A lists all six,
and the calls land on every instance; an acknowledgement sent to another instance than the
one running the call marks its alert there; and a returning customer's second call, on
another instance than the first, starts from their history."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentiment_svc.client import stream_call
from tests.nginx_server import running_nginx
from tests.pg_server import PostgresServer
from tests.redis_server import RedisServer, redis_available
from tests.test_cluster_live import SLOW_S, Feed, Instance, escalating, serve, wait_ready

INSTANCES = ("node-a", "node-b", "node-c")
CALLS = 6
SECRET = "cluster-test-customer-id-secret-0123456789"
RETURNING = "+79161234567"

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed")


@pytest.fixture(scope="module")
def cluster(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[list[Instance]]:
    redis = RedisServer(tmp_path_factory.mktemp("redis"))
    redis.start()
    database = postgres_server.create_database()
    logs = tmp_path_factory.mktemp("logs")
    nodes: list[Instance] = []
    try:
        for name in INSTANCES:  # one at a time: three model loads at once starve the machine
            node = serve(name, tmp_path_factory.mktemp(name), redis.url, logs,
                         SENTIMENT_DATABASE_URL=database, SENTIMENT_CUSTOMER_ID_SECRET=SECRET,
                         SENTIMENT_MAX_BACKLOG_S="none",
                         SENTIMENT_MAX_RECOGNIZER_LOAD="none")
            nodes.append(node)
            wait_ready(node)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


def detail(node: Instance, call_id: str) -> dict[str, Any]:
    return httpx.get(f"{node.http}/v1/calls/{call_id}", timeout=10).json()


async def wait_until(check, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            found = await asyncio.to_thread(check)
            if found:
                return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


def test_six_calls_through_nginx_one_wall_acks_across_instances_and_customer_memory(
    cluster: list[Instance], tmp_path: Path,
):
    a, b, c = cluster
    call_ids = [f"nx-{index}" for index in range(CALLS)]

    async def scenario() -> None:
        with running_nginx([node.port for node in cluster], tmp_path) as nginx:
            async with Feed(f"{a.ws}/v1/supervisor/feed") as wall:
                streams = [
                    asyncio.create_task(stream_call(
                        escalating(call_id, f"op-{index}"), nginx.ws, "native",
                        follow_feed=False))
                    for index, call_id in enumerate(call_ids)
                ]
                for call_id in call_ids:  # A's wall lists every call of the cluster
                    await wall.until(call_id, "call_started", 30)
                owners = {call_id: (await asyncio.to_thread(detail, a, call_id))["instance_id"]
                          for call_id in call_ids}
                assert set(owners.values()) == set(INSTANCES), owners  # least_conn spread them

                # an ack given on an instance that does not run the call marks its alert
                target = call_ids[0]
                runs_it = next(n for n in cluster if n.name == owners[target])
                other = next(n for n in cluster if n is not runs_it)
                async with Feed(f"{other.ws}/v1/operators/op-0/feed") as console:
                    alert = await console.until(target, "alert", SLOW_S)
                    await console.socket.send(json.dumps({
                        "type": "ack", "call_id": target, "alert_id": alert["alert_id"],
                        "outcome": "apologised"}))
                    acked = await console.until(target, "alert_acked", 60)
                    assert acked["alert_id"] == alert["alert_id"]
                results = await asyncio.gather(*streams)
                assert [r.close_code for r in results] == [1000] * CALLS
                for call_id in call_ids:
                    await wall.until(call_id, "call_ended", SLOW_S)
            stored = await asyncio.to_thread(detail, runs_it, target)
            acks = {al["alert_id"]: al["acks"] for al in stored["alerts"]}
            assert [k["outcome"] for k in acks[alert["alert_id"]]] == ["apologised"]
            assert runs_it.metric("sentiment_acks_routed_total", '{direction="in"}') == 1

            # a returning customer: the first call on one instance, the second on another
            first = dataclasses.replace(escalating("returning-1", "op-r"), customer_id=RETURNING)
            done = await stream_call(first, a.ws, "native", follow_feed=False)
            assert done.close_code == 1000
            await wait_until(lambda: detail(b, "returning-1")["status"] == "completed",
                             SLOW_S, "the first call stored")
            second = dataclasses.replace(escalating("returning-2", "op-r"), customer_id=RETURNING)
            async with Feed(f"{c.ws}/v1/operators/op-r/feed") as console:
                streaming = asyncio.create_task(
                    stream_call(second, c.ws, "native", follow_feed=False))
                history = await console.until("returning-2", "customer_history", 60)
                streaming.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await streaming
            assert history["previous_calls"] == 1
            assert history["categories"], history  # what the first call complained of

    asyncio.run(scenario())
    listed = httpx.get(f"{b.http}/v1/calls", params={"limit": 50}, timeout=10).json()["calls"]
    assert set(call_ids) <= {call["call_id"] for call in listed}  # one store for all
