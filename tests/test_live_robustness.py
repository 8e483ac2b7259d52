"""Bad input and misbehaving clients over real sockets: each gets a clear error, its call is
finalised, and nobody else notices."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import numpy as np
import pytest
import websockets

from sentiment_svc.asr.scheduler import AsrScheduler
from sentiment_svc.client import stream_call
from sentiment_svc.config import Settings
from sentiment_svc.frames import Channel
from sentiment_svc.live.service import CallRejected, Service
from sentiment_svc.protocols.base import CallStart
from tests.live_server import start_server
from tests.test_live import angry_call

START = {"type": "start", "call_id": "x", "operator_id": "op-bad", "sample_rate": 8000,
         "encoding": "pcm16", "channels": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("robust"), ingest_idle_timeout_s=5.0,
                        max_live_calls=3)
    yield live
    live.stop()


async def session(url: str, messages: list, wait_s: float = 10.0) -> tuple[list, int | None, str]:
    replies: list = []
    async with websockets.connect(url) as socket:
        with contextlib.suppress(websockets.ConnectionClosed):
            for message in messages:
                await socket.send(message)
            while True:
                reply = await asyncio.wait_for(socket.recv(), wait_s)
                replies.append(json.loads(reply) if isinstance(reply, str) else reply)
        return replies, socket.close_code, socket.close_reason or ""


def call_status(server, call_id: str) -> str:
    return httpx.get(f"{server.http}/v1/calls/{call_id}", timeout=10).json()["status"]


@pytest.mark.parametrize(
    "messages,code,close",
    [
        ([b"\x00\x01" * 80], "audio_before_start", 1008),
        (["{not json"], "invalid_json", 1007),
        ([json.dumps({**START, "sample_rate": 44100, "call_id": "b1"})],
         "unsupported_sample_rate", None),
        ([json.dumps({**START, "encoding": "opus", "call_id": "b2"})], None, None),
        ([json.dumps({"type": "dance"})], None, None),
    ],
)
def test_bad_input_gets_an_error_frame_and_a_close_code(server, messages, code, close):
    replies, close_code, reason = asyncio.run(session(f"{server.ws}/v1/ingest", messages))
    errors = [r for r in replies if isinstance(r, dict) and r.get("type") == "error"]
    assert errors and errors[0]["message"]
    if code:
        assert errors[0]["code"] == code
    assert close_code not in (None, 1000) and reason
    if close:
        assert close_code == close


def test_a_call_that_breaks_mid_stream_is_finalised_and_its_neighbour_is_untouched(server):
    good = angry_call("good-neighbour", "op-good")

    async def both():
        bad_messages = [json.dumps({**START, "call_id": "bad-mid"}),
                        np.zeros(800, np.int16).tobytes(), b"\x01\x02\x03"]  # odd-length PCM
        bad, good_result = await asyncio.gather(
            session(f"{server.ws}/v1/ingest", bad_messages),
            stream_call(good, server.ws, "native", speed=2.0),
        )
        return bad, good_result

    (replies, close_code, _), good_result = asyncio.run(both())
    assert any(r.get("code") == "odd_length_pcm" for r in replies if isinstance(r, dict))
    assert close_code == 1007
    assert call_status(server, "bad-mid") == "failed"
    assert good_result.close_code == 1000
    assert any(e["type"] == "alert" for e in good_result.feed)
    assert call_status(server, "good-neighbour") == "completed"


def test_a_client_that_never_sends_stop_times_out_and_the_call_is_finalised(server):
    messages = [json.dumps({**START, "call_id": "silent-client"}),
                np.zeros(8000, np.int16).tobytes()]
    replies, close_code, reason = asyncio.run(session(f"{server.ws}/v1/ingest", messages))
    assert close_code == 1008 and "no data" in reason
    assert call_status(server, "silent-client") == "interrupted"


def test_a_console_that_stops_reading_does_not_slow_anyone(server):
    call = angry_call("slow-reader", "op-slow")

    async def scenario():
        stuck = await websockets.connect(f"{server.ws}/v1/operators/op-slow/feed",
                                         max_queue=1)
        try:
            return await asyncio.wait_for(stream_call(call, server.ws, "native", speed=4.0), 30)
        finally:
            stuck.transport.abort()

    result = asyncio.run(scenario())
    assert result.close_code == 1000
    assert [e["type"] for e in result.feed][-1] == "call_ended"


def test_too_many_live_calls_are_refused_cleanly(server):
    async def scenario():
        sockets = []
        for index in range(3):
            socket = await websockets.connect(f"{server.ws}/v1/ingest")
            await socket.send(json.dumps({**START, "call_id": f"limit-{index}"}))
            assert json.loads(await socket.recv())["type"] == "started"
            sockets.append(socket)
        refused = await session(f"{server.ws}/v1/ingest",
                                [json.dumps({**START, "call_id": "limit-over"})])
        for socket in sockets:
            await socket.send(json.dumps({"type": "stop"}))
            await socket.close()
        return refused

    _, close_code, reason = asyncio.run(scenario())
    assert close_code == 1013 and "limit" in reason


def test_readiness_says_why_when_the_models_fail_to_load(tmp_path):
    live = start_server(tmp_path / "data", wait_ready=False, whisper_model=tmp_path / "absent")
    try:
        deadline = time.monotonic() + 60
        while True:
            reply = httpx.get(f"{live.http}/readyz", timeout=5)
            if reply.json()["status"] != "loading models" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply.status_code == 503
        status = reply.json()["status"]
        assert status.startswith("models failed to load") and "make install" in status
        assert httpx.get(f"{live.http}/healthz").status_code == 200  # alive, not ready
    finally:
        live.stop()


def test_readiness_fails_when_a_recognition_worker_has_stopped(tmp_path, engines):
    service = Service(Settings(data_dir=tmp_path))
    service.engines = engines
    service.scheduler = AsrScheduler(engines.recognizer, workers=2)
    assert service.unhealthy() is None
    service.scheduler.close()  # the workers' threads end, as a crashed worker's would
    assert service.scheduler.workers_alive == 0
    assert service.unhealthy() == "2 of 2 ASR workers stopped"
    # and it takes no call whose finals would never come, live or replayed
    start = CallStart(call_id="after-crash", operator_id="op-1", customer_id=None,
                      language="ru", sample_rate=8000, encoding="pcm16", channels=1,
                      channel_map={0: Channel.CUSTOMER})
    with pytest.raises(CallRejected, match="2 of 2 ASR workers stopped"):
        asyncio.run(service.open_call(start, "native"))
    with pytest.raises(CallRejected, match="2 of 2 ASR workers stopped"):
        asyncio.run(service.replay("after-crash", 1.0, lambda message: None))
    assert service.calls == {} and service.store.get_call("after-crash") is None


def test_a_connection_dropped_without_stop_is_stored_as_interrupted(server):
    async def drop() -> None:
        async with websockets.connect(f"{server.ws}/v1/ingest") as socket:
            await socket.send(json.dumps({**START, "call_id": "dropped-call"}))
            assert json.loads(await socket.recv())["type"] == "started"
            await socket.send(np.zeros(8000, np.int16).tobytes())
        # closed here, no stop: the line went down

    asyncio.run(drop())
    deadline = time.monotonic() + 10
    while call_status(server, "dropped-call") == "live" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert call_status(server, "dropped-call") == "interrupted"


def test_a_refused_call_is_never_told_it_started(server):
    async def twice() -> tuple[list, int | None, str]:
        async with websockets.connect(f"{server.ws}/v1/ingest") as first:
            await first.send(json.dumps({**START, "call_id": "dup-call"}))
            assert json.loads(await first.recv())["type"] == "started"
            refused = await session(f"{server.ws}/v1/ingest",
                                    [json.dumps({**START, "call_id": "dup-call"})])
            await first.send(json.dumps({"type": "stop"}))
            return refused

    replies, close_code, reason = asyncio.run(twice())
    assert close_code == 1013 and "already live" in reason
    assert not [r for r in replies if isinstance(r, dict) and r.get("type") == "started"]


@pytest.mark.parametrize("call_id", ["a/b", "../x", "tab\tid"])
def test_a_call_id_no_url_can_name_is_refused_at_start(server, call_id):
    replies, close_code, reason = asyncio.run(session(
        f"{server.ws}/v1/ingest", [json.dumps({**START, "call_id": call_id})]
    ))
    assert close_code == 4400 and "call id" in reason
    assert not [r for r in replies if isinstance(r, dict) and r.get("type") == "started"]
    listed = httpx.get(f"{server.http}/v1/calls", params={"operator_id": START["operator_id"]})
    assert call_id not in {c["call_id"] for c in listed.json()["calls"]}
