"""Through the live service on loopback with the real models: a Twilio call whose inbound
track loses 2 s of media, whose customer presses two keys, and whose alert Twilio confirms
by echoing its mark. One call, about 16 s of audio sent in real time."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import httpx
import numpy as np
import soundfile
import websockets

from sentiment_svc.protocols.clients import ClientCall, twilio_session
from tests.conftest import ANGRY_CALL
from tests.live_server import start_server

LEAD_S, TRAIL_S = 3.0, 6.0  # silence before and after the customer's outburst
GAP = (0.5, 2.5)  # the inbound media Twilio lost: 2 s, inside the lead
DTMF_AT = 2.6
SPEED = 1.0  # real time, as test_live plays this call: at 2x an alert was missed once under load
MARK_WAIT_S = 25.0  # after the audio, how long the "platform" waits for the alert's mark


def call_messages(call_id: str, operator_id: str) -> list[tuple[float, dict]]:
    speech, rate = soundfile.read(ANGRY_CALL, dtype="float32")
    assert rate == 8000
    customer = np.concatenate([np.zeros(int(LEAD_S * rate), np.float32), speech,
                               np.zeros(int(TRAIL_S * rate), np.float32)])
    call = ClientCall(call_id, operator_id, customer, np.zeros_like(customer), rate, "ru")
    messages: list[tuple[float, dict]] = []
    for outgoing in twilio_session(call):
        message = json.loads(outgoing.message)
        media = message.get("media")
        if media and media["track"] == "inbound" and GAP[0] <= outgoing.at < GAP[1]:
            continue  # lost: the inbound track's next timestamp jumps 2 s
        messages.append((outgoing.at, message))
        if media and media["track"] == "outbound" and outgoing.at == DTMF_AT:
            for digit in "73":
                messages.append((outgoing.at, {"event": "dtmf", "streamSid": message["streamSid"],
                                               "dtmf": {"track": "inbound_track",
                                                        "digit": digit}}))
    return messages


async def play(ws: str, call_id: str, operator_id: str) -> tuple[list[dict], list[str]]:
    """Send the call as Twilio would, echoing each mark the service sends (as Twilio does
    once the audio queued before it has played); returns the operator feed's events and
    the marks echoed."""
    messages = call_messages(call_id, operator_id)
    stop = messages.pop()[1]
    feed_events: list[dict] = []
    marks: asyncio.Queue[str] = asyncio.Queue()
    echoed: list[str] = []
    sequence = 0

    async def send(socket, message: dict) -> None:
        nonlocal sequence
        if message["event"] != "connected":
            sequence += 1
            message = {**message, "sequenceNumber": str(sequence)}
        await socket.send(json.dumps(message))

    async def echo_marks(socket, stream_sid: str) -> None:
        while not marks.empty():
            name = marks.get_nowait()
            echoed.append(name)
            await send(socket, {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})

    async def follow_feed(feed) -> None:
        async for text in feed:
            event = json.loads(text)
            if event.get("call_id") == call_id and event["type"] != "call_state":
                feed_events.append(event)
                if event["type"] == "call_ended":
                    return

    async def read_replies(socket) -> None:
        async for text in socket:
            reply = json.loads(text)
            if reply.get("event") == "mark":
                marks.put_nowait(reply["mark"]["name"])

    async with websockets.connect(f"{ws}/v1/operators/{quote(operator_id)}/feed") as feed:
        following = asyncio.create_task(follow_feed(feed))
        async with websockets.connect(f"{ws}/v1/twilio") as socket:
            replies = asyncio.create_task(read_replies(socket))
            loop = asyncio.get_running_loop()
            began = loop.time()
            stream_sid = stop["streamSid"]
            for at, message in messages:
                await asyncio.sleep(max(0.0, began + at / SPEED - loop.time()))
                await echo_marks(socket, stream_sid)
                await send(socket, message)
            waited = loop.time()
            while not echoed and loop.time() - waited < MARK_WAIT_S:
                await asyncio.sleep(0.1)
                await echo_marks(socket, stream_sid)
            await send(socket, stop)
            await replies
        await asyncio.wait_for(following, 60)
    return feed_events, echoed


def test_twilio_gap_dtmf_and_mark_through_the_live_service(tmp_path):
    live = start_server(tmp_path / "data")
    try:
        feed, echoed = asyncio.run(play(live.ws, "gap-dtmf-1", "op-gap"))
        detail = httpx.get(f"{live.http}/v1/calls/gap-dtmf-1", timeout=30).json()
    finally:
        live.stop()
    types = [event["type"] for event in feed]
    assert types[0] == "call_started" and types[-1] == "call_ended", types
    assert feed[-1]["status"] == "completed"

    # Key presses: published on the operator's feed when pressed, digits masked.
    dtmf = [event for event in feed if event["type"] == "dtmf"]
    assert [(e["digits"], e["channel"]) for e in dtmf] == [("*", "customer")] * 2
    assert all(DTMF_AT - 0.2 <= e["t"] <= DTMF_AT + 0.2 for e in dtmf), dtmf

    # The customer's speech is where the platform's clock put it: after the lost 2 s, at
    # the lead (3 s) plus the recording's onset (~0.05 s) less the VAD's 0.2 s padding.
    # Counting the samples instead would put it 2 s earlier.
    customer = [u for u in detail["utterances"] if u["channel"] == "customer"]
    assert customer, detail["utterances"]
    assert LEAD_S - 0.5 <= customer[0]["start"] <= LEAD_S + 0.5, customer[0]
    speech_end = LEAD_S + 7.25  # the recording lasts 7.25 s
    assert speech_end - 1.5 <= customer[-1]["end"] <= speech_end + 0.5, customer[-1]
    assert detail["summary"]["duration"] >= LEAD_S + 7.25 + TRAIL_S - 0.1  # nothing lost

    # The alert went out as a mark named after it; its echo confirmed the delivery.
    alerts = [event for event in feed if event["type"] == "alert"]
    assert alerts, f"no alert; the feed had {types}"
    assert echoed and echoed[0] == f"alert:{alerts[0]['alert_id']}", (alerts, echoed)
    delivered = [(e["alert_id"], e["protocol"]) for e in feed if e["type"] == "alert_delivered"]
    assert delivered == [(name.removeprefix("alert:"), "twilio") for name in echoed]
