"""Two `serve` processes sharing a real `redis-server` (`SENTIMENT_REDIS_URL`) and one data
directory (SQLite in WAL mode works across processes on one machine; a cluster of machines
shares PostgreSQL instead): the supervisor wall and operator feed of either instance show
the other's calls, an acknowledgement given on B reaches the call running on A, a Redis
restart mid-call loses no event, `kill -9` of A has B mark its call interrupted within
15 s, and the call resumes on B; admission refuses with 1013 on recognition backlog.

The tests run in order on one pair of processes (the last one kills A)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile
import websockets

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.alerts.state import CallState
from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import load_client_call, stream_call
from sentiment_svc.frames import Channel, Sentiment, UtteranceAnalysis
from sentiment_svc.protocols.clients import FRAME_S, ClientCall, native_session
from tests.conftest import SCRIPTED_AUDIO
from tests.live_server import Loopback
from tests.redis_server import RedisServer, redis_available
from tools.bench import free_port

ESCALATING = SCRIPTED_AUDIO / "escalating_ru.wav"  # 40 s; first alert at about 24 s
READY_TIMEOUT_S = 240.0
INTERRUPTED_WITHIN_S = 15.0
FIRST_PART_S = 25.5  # four customer utterances (the last ends at 24.1 s, the next starts at 26.6)
FIRST_PART_UTTERANCES = 4
# Recognition on a loaded 2-core machine may lag the audio by minutes; nothing is lost.
SLOW_S = 300.0

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed")


@dataclasses.dataclass
class Instance(Loopback):
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def metric(self, name: str, labels: str = "") -> float | None:
        text = httpx.get(f"{self.http}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(name + labels + " "):
                return float(line.split()[-1])
        return None

    def call(self, call_id: str) -> dict[str, Any]:
        return httpx.get(f"{self.http}/v1/calls/{call_id}", timeout=10).json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def serve(name: str, data_dir: Path, redis_url: str, logs: Path, **env: str) -> Instance:
    port = free_port()
    log = logs / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
         "--data-dir", str(data_dir)],
        env={**os.environ, "SENTIMENT_REDIS_URL": redis_url, "SENTIMENT_INSTANCE_ID": name,
             "SENTIMENT_ASR_WORKERS": "1", **env},
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )
    return Instance(name, port, process, log)


def wait_ready(*instances: Instance) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    for instance in instances:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{instance.http}/readyz", timeout=2).status_code == 200:
                    break
            assert instance.process.poll() is None, instance.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{instance.name} did not become ready"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Instance, Instance]]:
    data, logs = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("logs")
    a = serve("inst-a", data, redis.url, logs)
    wait_ready(a)  # one at a time: both loading models at once would starve the machine
    b = serve("inst-b", data, redis.url, logs)
    wait_ready(b)
    yield a, b
    for instance in (a, b):
        instance.stop()


def escalating(call_id: str, operator_id: str) -> ClientCall:
    return load_client_call(ESCALATING, CustomerChannel.MONO, call_id, operator_id, "ru")


class Feed:
    """A websocket feed of one instance, read in the background into `events`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.socket: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Feed:
        self.socket = await websockets.connect(self.url, max_size=2**22)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self.socket.close()

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self.socket:
                self.events.append(json.loads(text))

    def of(self, call_id: str, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("call_id") == call_id and e["type"] == kind]

    async def until(self, call_id: str, kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.of(call_id, kind):
            assert time.monotonic() < deadline, (
                f"no {kind} of {call_id} on {self.url}; got "
                f"{[(e['type'], e.get('seq')) for e in self.events if e['type'] != 'call_state']}")
            await asyncio.sleep(0.1)
        return self.of(call_id, kind)[0]


def test_a_call_on_a_shows_on_b_an_ack_on_b_reaches_a_and_a_redis_restart_loses_nothing(
    pair: tuple[Instance, Instance], redis: RedisServer,
):
    a, b = pair
    redis_down: list[float | None] = []

    async def scenario() -> None:
        async with Feed(f"{b.ws}/v1/supervisor/feed") as wall, \
                Feed(f"{b.ws}/v1/operators/op-x/feed") as console:
            streaming = asyncio.create_task(stream_call(
                escalating("x-1", "op-x"), a.ws, "native", follow_feed=False))
            await wall.until("x-1", "call_started", 15)
            await wall.until("x-1", "call_state", 10)  # A's live state, drawn on B's wall
            await asyncio.sleep(4.0)
            redis.stop()  # mid-call: A goes on analysing, its events wait in its outbox
            await asyncio.sleep(4.0)
            redis_down.append(await asyncio.to_thread(a.metric, "sentiment_redis_up"))
            redis.start()
            try:
                alert = await console.until("x-1", "alert", SLOW_S)
            except AssertionError as error:
                state = [line for instance in (a, b) for line in await asyncio.to_thread(
                    lambda i=instance: httpx.get(f"{i.http}/metrics").text.splitlines())
                    if "bus_outbox" in line or "redis_up" in line]
                raise AssertionError(f"{error}; {state}") from None
            await console.socket.send(json.dumps({
                "type": "ack", "call_id": "x-1", "alert_id": alert["alert_id"],
                "outcome": "apologised"}))
            acked = await console.until("x-1", "alert_acked", 30)
            assert acked["alert_id"] == alert["alert_id"] and acked["source"] == "console"
            result = await streaming
            assert result.close_code == 1000
            ended = await wall.until("x-1", "call_ended", SLOW_S)
            assert ended["status"] == "completed"
            await asyncio.sleep(1.0)
            seen = sorted(e["seq"] for e in console.of("x-1", "utterance"))
            stored = await asyncio.to_thread(a.call, "x-1")
            assert seen == [u["seq"] for u in stored["utterances"]], "an utterance was lost"
            assert {e["alert_id"] for e in console.of("x-1", "alert")} == {
                al["alert_id"] for al in stored["alerts"]}
            acks = {al["alert_id"]: al["acks"] for al in stored["alerts"]}
            assert [k["outcome"] for k in acks[alert["alert_id"]]] == ["apologised"]

    asyncio.run(scenario())
    assert redis_down == [0.0]  # A said so while Redis was down
    assert a.metric("sentiment_redis_up") == 1
    assert b.metric("sentiment_acks_routed_total", '{direction="out"}') == 1
    assert a.metric("sentiment_acks_routed_total", '{direction="in"}') == 1
    assert "is down" in a.log.read_text() and "reachable again" in a.log.read_text()


def test_admission_refuses_with_1013_while_the_recognition_backlog_is_too_long(
    redis: RedisServer, tmp_path: Path,
):
    """An instance told to admit no backlog at all: a call streamed at 8x real time keeps
    its recogniser busy; a call offered meanwhile is refused with 1013, and /readyz says
    busy with its load; once the backlog is gone a call is admitted again."""
    busy = serve("inst-busy", tmp_path / "data", redis.url, tmp_path,
                 SENTIMENT_MAX_BACKLOG_S="0")
    try:
        wait_ready(busy)
        refusals: list[tuple[int | None, str]] = []
        busy_ready: list[dict[str, Any]] = []

        async def scenario() -> None:
            loading = asyncio.create_task(stream_call(
                escalating("load-1", "op-load"), busy.ws, "native", speed=8.0,
                follow_feed=False))
            while not loading.done() and not refusals:
                reply = await asyncio.to_thread(httpx.get, f"{busy.http}/readyz", timeout=5)
                if reply.status_code == 503:
                    busy_ready.append(reply.json())
                    offered = await stream_call(
                        escalating(f"offered-{len(busy_ready)}", "op-2"), busy.ws, "native",
                        speed=8.0, follow_feed=False)
                    if offered.close_code == 1013:
                        refusals.append((offered.close_code, offered.close_reason))
                await asyncio.sleep(0.05)
            await loading

        asyncio.run(scenario())
        assert refusals and "recognition backlog" in refusals[0][1], refusals
        assert busy_ready[0]["status"].startswith("busy") and busy_ready[0]["backlog_s"] > 0
        assert busy.metric("sentiment_calls_refused_total", '{reason="backlog"}') >= 1
        deadline = time.monotonic() + 60
        while httpx.get(f"{busy.http}/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        later = asyncio.run(stream_call(escalating("later", "op-2"), busy.ws, "native",
                                        speed=8.0, follow_feed=False))
        assert later.close_code == 1000
    finally:
        busy.stop()


def escalation_of(utterances: list[dict[str, Any]]) -> CallState:
    """The escalation state that the stored utterances (as the REST API gives them) imply."""
    state = CallState(Policy.load())
    for u in utterances:
        state.observe(UtteranceAnalysis(
            channel=Channel(u["channel"]), start=u["start"], end=u["end"], lang=u["lang"],
            text=u["text"], sentiment=Sentiment(**u["sentiment"]),
            categories=tuple(u["categories"]), loudness_db=u["loudness_db"],
            raised_voice=u["raised_voice"]))
    return state


async def stream_then_hold(call: ClientCall, url: str, until: Callable[[], bool]) -> None:
    """Stream `call` natively in real time without stopping it, then silence until `until()`
    holds; the connection stays open until the task is cancelled (or its server dies)."""
    loop = asyncio.get_running_loop()
    async with websockets.connect(url + "/v1/ingest") as socket:
        began = loop.time()
        for outgoing in native_session(call):
            if isinstance(outgoing.message, str) and '"stop"' in outgoing.message:
                break
            await asyncio.sleep(max(0.0, began + outgoing.at - loop.time()))
            await socket.send(outgoing.message)
        silence = bytes(int(call.sample_rate * FRAME_S) * 2)
        with contextlib.suppress(websockets.ConnectionClosed):
            while not until():
                await socket.send(silence)
                await asyncio.sleep(FRAME_S)
            while True:
                await socket.send(silence)
                await asyncio.sleep(FRAME_S)


def test_kill_9_of_a_mid_call_b_marks_it_interrupted_and_the_client_resumes_on_b(
    pair: tuple[Instance, Instance],
):
    """The first 26 s of the call (four complaints, an alert) go to A; once they are stored
    A is killed. B marks the call interrupted; the client sends the rest to B with the same
    call id, and B goes on from the escalation state A had."""
    a, b = pair
    call = escalating("k-1", "op-k")
    split = int(FIRST_PART_S * call.sample_rate)
    first = dataclasses.replace(call, customer=call.customer[:split])
    rest = dataclasses.replace(call, customer=call.customer[split:])
    state: dict[str, Any] = {}

    async def until_the_kill() -> None:
        async with Feed(f"{b.ws}/v1/supervisor/feed") as wall:
            stored: list[int] = [0]

            def first_part_done() -> bool:
                return bool(wall.of("k-1", "alert")) and stored[0] >= FIRST_PART_UTTERANCES

            streaming = asyncio.create_task(stream_then_hold(first, a.ws, first_part_done))
            deadline = time.monotonic() + SLOW_S
            while not first_part_done():
                assert time.monotonic() < deadline, "the first part was not analysed"
                await asyncio.sleep(1.0)
                with contextlib.suppress(httpx.HTTPError):
                    detail = await asyncio.to_thread(b.call, "k-1")
                    stored[0] = len(detail.get("utterances", ()))
            await asyncio.sleep(3.0)  # A's wall state after the last of them
            state["before"] = wall.of("k-1", "call_state")[-1]
            state["scores"] = [(e["score"], e["duration"]) for e in wall.of("k-1", "call_state")]
            assert len((await asyncio.to_thread(b.call, "k-1"))["utterances"]) == stored[0]
            os.kill(a.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            while (await asyncio.to_thread(b.call, "k-1"))["status"] != "interrupted":
                assert time.monotonic() - killed < INTERRUPTED_WITHIN_S, "not interrupted"
                await asyncio.sleep(0.25)
            state["interrupted_after"] = time.monotonic() - killed
            await wall.until("k-1", "call_ended", 5)
            streaming.cancel()
            with contextlib.suppress(BaseException):
                await streaming

    asyncio.run(until_the_kill())
    a.process.wait(timeout=10)
    assert state["interrupted_after"] < INTERRUPTED_WITHIN_S
    before = b.call("k-1")

    async def resume() -> None:
        async with Feed(f"{b.ws}/v1/supervisor/feed") as wall:
            streaming = asyncio.create_task(stream_call(rest, b.ws, "native", follow_feed=False))
            state["resumed"] = await wall.until("k-1", "call_started", 15)
            assert (await asyncio.to_thread(b.call, "k-1"))["status"] == "live"
            result = await streaming
            assert result.close_code == 1000, result.close_reason
            await wall.until("k-1", "call_ended", SLOW_S)

    asyncio.run(resume())
    after = b.call("k-1")
    # The escalation state came back from the store: B's wall shows it at once.
    resumed, held = state["resumed"], state["before"]
    assert resumed["level"] == held["level"] != "calm"
    implied = escalation_of(before["utterances"]).score
    assert resumed["score"] == pytest.approx(implied, abs=0.02)
    assert resumed["score"] >= held["score"], state["scores"]
    assert resumed["last_alert"]["alert_id"] == before["alerts"][-1]["alert_id"]
    assert resumed["duration"] >= before["utterances"][-1]["end"]
    assert after["status"] == "completed" and after["instance_id"] == "inst-b"
    assert after["utterances"][: len(before["utterances"])] == before["utterances"]
    new = after["utterances"][len(before["utterances"]):]
    assert new, "nothing recognised after the resume"
    assert all(u["start"] >= before["utterances"][-1]["end"] for u in new)
    assert [u["seq"] for u in after["utterances"]] == list(range(len(after["utterances"])))
    recording = httpx.get(f"{b.http}/v1/calls/k-1/recording", timeout=10)
    assert recording.status_code == 200
    assert soundfile.info(io.BytesIO(recording.content)).duration > resumed["duration"]
