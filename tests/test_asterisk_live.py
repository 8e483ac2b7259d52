"""Asterisk end to end: a real `sentiment-svc serve` on loopback (real models), with its
AudioSocket listener on, fed the golden stereo call split into its two legs at 8 kHz the
way Asterisk sends them: chan_websocket (Asterisk is the WebSocket client; one leg ulaw
with plain-text control, the other slin with JSON control) and AudioSocket (two TCP
connections with the call's UUID, one per port). Each call is stored with utterances on
both channels, the alert the call asks for and the operator's words answering it; a
connection that drops without a hang-up leaves its call interrupted.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
import soundfile
import websockets

from sentiment_svc.audio.codecs import encode
from tests.conftest import SCRIPTED_AUDIO
from tools.bench import free_port

CALL = SCRIPTED_AUDIO / "stereo_apology_ru.wav"  # customer left, operator right, 8 kHz
ANSWERED_BY = {"bonus": "offered_bonus", "apology": "apologised"}  # the operator's words
RATE = 8000
FRAME_S = 0.02
SPEED = 2.0  # twice real time: the golden call's 29 s in about 15 s
WS_FRAME = 160  # samples per chan_websocket message (20 ms)


@pytest.fixture(scope="module")
def legs() -> tuple[np.ndarray, np.ndarray]:
    pcm, rate = soundfile.read(CALL, dtype="int16", always_2d=True)
    assert rate == RATE and pcm.shape[1] == 2
    return pcm[:, 0].copy(), pcm[:, 1].copy()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`serve` as a contact centre runs it, AudioSocket on two ports (customer, operator)."""
    http, customer_port, operator_port = free_port(), free_port(), free_port()
    env = {**os.environ, "SENTIMENT_AUDIOSOCKET_PORT": str(customer_port),
           "SENTIMENT_AUDIOSOCKET_OPERATOR_PORT": str(operator_port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(http),
         "--data-dir", str(tmp_path_factory.mktemp("asterisk-data"))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the service exited while starting"
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.3)
        yield {"http": http, "customer": customer_port, "operator": operator_port}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def stored(service: dict, call_id: str, timeout_s: float = 60.0) -> dict:
    """The call as the REST API gives it, once it has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(f"http://127.0.0.1:{service['http']}/v1/calls/{call_id}",
                             timeout=10)
        if response.status_code == 200 and response.json()["status"] != "live":
            return response.json()
        assert time.monotonic() < deadline, f"call {call_id} did not end"
        time.sleep(0.3)


def assert_golden_call(detail: dict, protocol: str) -> None:
    assert detail["status"] == "completed" and detail["protocol"] == protocol
    assert detail["channels"] == 2 and detail["operator_id"] == "op-ast"
    channels = [u["channel"] for u in detail["utterances"]]
    assert channels.count("customer") >= 2 and channels.count("operator") >= 3
    texts = " ".join(u["text"].lower() for u in detail["utterances"])
    assert "деньги" in texts and "извин" in texts
    # called again and still not helped (the label guide's bonus), or, as Whisper hears
    # this leg, a plain complaint (an apology): the operator apologises and offers the money
    # back, which answers either, heard, not clicked
    actions = [a["action"] for a in detail["alerts"]]
    assert actions and actions[0] in ANSWERED_BY and set(actions) <= {*ANSWERED_BY, "supervisor"}
    first = detail["alerts"][0]
    assert [ack["outcome"] for ack in first["acks"]] == [ANSWERED_BY[first["action"]]]


async def paced(frames: list[bytes], send, speed: float = SPEED) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    for index, frame in enumerate(frames):
        delay = began + index * FRAME_S / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(frame)


# -- chan_websocket -----------------------------------------------------------------------
def websocket_url(service: dict, **parameters: str) -> str:
    """websocket_client.conf's uri with the dial string's v(...) parameters appended."""
    return f"ws://127.0.0.1:{service['http']}/v1/asterisk?{urlencode(parameters)}"


async def chan_websocket_leg(url: str, media_start: str, frames: list[bytes],
                             drop: bool = False) -> None:
    async with websockets.connect(url, subprotocols=["media"], compression=None) as ws:
        assert ws.subprotocol == "media"
        await ws.send(media_start)
        await paced(frames, ws.send)
        if drop:
            ws.transport.abort()  # no close frame: the connection dropped
            return
    # leaving the block closes with 1000, as Asterisk does when the channel hangs up


def plain_media_start(channel_id: str, fmt: str, frame_bytes: int) -> str:
    return (f"MEDIA_START connection_id:sentiment channel:WebSocket/sentiment/0x{channel_id} "
            f"channel_id:{channel_id} format:{fmt} optimal_frame_size:{frame_bytes} ptime:20")


def test_chan_websocket_legs_make_one_call_with_its_alert(service, legs):
    customer, operator = legs
    call_id = f"ast-ws-{uuid.uuid4().hex[:8]}"
    identity = {"call_id": call_id, "operator_id": "op-ast", "language": "ru"}
    ulaw = [encode(customer[i:i + WS_FRAME], "mulaw") for i in range(0, len(customer),
                                                                    WS_FRAME)]
    slin = [operator[i:i + WS_FRAME].astype("<i2").tobytes()
            for i in range(0, len(operator), WS_FRAME)]
    json_start = json.dumps({
        "event": "MEDIA_START", "connection_id": "sentiment", "channel": "WebSocket/sentiment/0x2",
        "channel_id": "1761245643.2", "format": "slin", "optimal_frame_size": 320, "ptime": 20,
        "channel_variables": {"MEDIA_WEBSOCKET_CONNECTION_ID": "sentiment"}})

    async def both() -> None:
        await asyncio.gather(
            chan_websocket_leg(websocket_url(service, speaker="customer", **identity),
                               plain_media_start("1761245643.1", "ulaw", 160), ulaw),
            chan_websocket_leg(websocket_url(service, speaker="operator", **identity),
                               json_start, slin))

    asyncio.run(both())
    assert_golden_call(stored(service, call_id), "asterisk_ws")


# -- AudioSocket --------------------------------------------------------------------------
def audiosocket(kind: int, payload: bytes = b"") -> bytes:
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


async def audiosocket_leg(port: int, call_uuid: uuid.UUID, pcm: np.ndarray, *,
                          speed: float = SPEED, drop: bool = False) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(audiosocket(0x01, call_uuid.bytes))
    raw = pcm.astype("<i2").tobytes()
    frames = [audiosocket(0x10, raw[i:i + 320]) for i in range(0, len(raw), 320)]

    async def send(frame: bytes) -> None:
        writer.write(frame)
        await writer.drain()

    await paced(frames, send, speed)
    if drop:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset: no FIN, no hang-up message
        return
    writer.close()  # Asterisk's hang-up: the socket just closes
    await writer.wait_closed()


def test_audiosocket_legs_make_one_call_with_its_alert(service, legs):
    customer, operator = legs
    call_uuid = uuid.uuid4()

    async def both() -> None:
        await asyncio.gather(audiosocket_leg(service["customer"], call_uuid, customer),
                             audiosocket_leg(service["operator"], call_uuid, operator))

    asyncio.run(both())
    detail = stored(service, str(call_uuid))
    assert detail["operator_id"] == "unknown"  # AudioSocket carries no operator id
    assert_golden_call({**detail, "operator_id": "op-ast"}, "audiosocket")


def test_connections_that_drop_without_a_hang_up_leave_interrupted_calls(service, legs):
    customer, operator = legs
    head = int(8.0 * RATE)  # the greeting and the first complaint
    call_uuid = uuid.uuid4()
    ws_call = f"ast-drop-{uuid.uuid4().hex[:8]}"
    ulaw = [encode(customer[i:i + WS_FRAME], "mulaw") for i in range(0, head, WS_FRAME)]

    async def dropping() -> None:
        await asyncio.gather(
            audiosocket_leg(service["customer"], call_uuid, customer[:head], speed=4,
                            drop=True),
            audiosocket_leg(service["operator"], call_uuid, operator[:head], speed=4),
            chan_websocket_leg(websocket_url(service, call_id=ws_call, operator_id="op-ast"),
                               plain_media_start("1761245699.1", "ulaw", 160), ulaw,
                               drop=True))

    asyncio.run(dropping())
    for call_id, channels in ((str(call_uuid), 2), (ws_call, 1)):
        detail = stored(service, call_id)
        assert (detail["status"], detail["channels"]) == ("interrupted", channels), call_id
        assert any(u["channel"] == "customer" for u in detail["utterances"]), call_id
