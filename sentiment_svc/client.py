"""`sentiment-svc stream`: play a recorded call to the service in real time and collect what
comes back, on the ingest socket and on the operator's feed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

from sentiment_svc.audio.decode import CustomerChannel, decode_file
from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.protocols.clients import ENDPOINTS, SESSIONS, ClientCall

FEED_GRACE_S = 10.0  # how long to wait for the feed's call_ended after the ingest closes


@dataclass
class StreamResult:
    call_id: str
    ingest: list[dict[str, Any]] = field(default_factory=list)  # replies on the ingest socket
    feed: list[dict[str, Any]] = field(default_factory=list)  # the operator feed's events
    close_code: int | None = None
    close_reason: str = ""
    first_sent_at: float | None = None  # time.monotonic() when the first audio left


def load_client_call(
    path: Path, customer_channel: CustomerChannel, call_id: str, operator_id: str, language: str
) -> ClientCall:
    audio = decode_file(path)
    samples = audio.samples
    if customer_channel is CustomerChannel.MONO:
        customer, operator = samples.mean(axis=1), None
    else:
        index = 0 if customer_channel is CustomerChannel.LEFT else 1
        customer, operator = samples[:, index], samples[:, 1 - index]
    return ClientCall(call_id, operator_id, customer, operator, audio.sample_rate, language)


async def stream_call(
    call: ClientCall,
    url: str,
    protocol: str = "native",
    token: str | None = None,
    speed: float = 1.0,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    follow_feed: bool = True,
) -> StreamResult:
    result = StreamResult(call.call_id)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    feed_ready = asyncio.Event()
    feed_task = None
    if follow_feed:
        feed_task = asyncio.create_task(
            _follow_feed(url, call, token, result, on_event, feed_ready)
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed_ready.wait(), 5)
    async with websockets.connect(
        url.rstrip("/") + ENDPOINTS[protocol], additional_headers=headers, max_size=2**22
    ) as socket:
        receiver = asyncio.create_task(_receive(socket, result, on_event))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            for outgoing in SESSIONS[protocol](call):
                delay = started + outgoing.at / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await socket.send(outgoing.message)
                if result.first_sent_at is None:
                    result.first_sent_at = time.monotonic()
        except websockets.ConnectionClosed:
            pass  # the server closed early (an error); the receiver has its reason
        if protocol == "audio_fork":  # no stop message in this protocol: hang up
            await socket.close()
        await receiver
        result.close_code = socket.close_code
        result.close_reason = socket.close_reason or ""
    # A call refused at its start (1013: busy, retry elsewhere) never reaches the feed.
    refused = result.close_code == CloseCode.TRY_AGAIN_LATER and not result.feed
    if feed_task is not None and not refused:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(feed_task), FEED_GRACE_S)
    if feed_task is not None:
        feed_task.cancel()
        with contextlib.suppress(BaseException):
            await feed_task
    return result


async def _receive(socket, result: StreamResult, on_event) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in socket:
            if isinstance(message, bytes):
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(message)
                result.ingest.append(event)
                if on_event is not None:
                    on_event("ingest", event)


async def _follow_feed(url, call: ClientCall, token, result: StreamResult, on_event, ready):
    feed_url = url.rstrip("/") + f"/v1/operators/{quote(call.operator_id)}/feed"
    if token:
        feed_url += f"?token={quote(token)}"
    try:
        async with websockets.connect(feed_url, max_size=2**22) as feed:
            ready.set()
            async for message in feed:
                event = json.loads(message)
                if event.get("call_id") != call.call_id or event.get("type") == "call_state":
                    continue
                result.feed.append(event)
                if on_event is not None:
                    on_event("feed", event)
                if event.get("type") == "call_ended":
                    return
    except (OSError, websockets.WebSocketException) as error:
        ready.set()
        if on_event is not None:
            on_event("feed", {"type": "feed_unavailable", "reason": str(error)})


def new_call_id() -> str:
    return "call-" + uuid.uuid4().hex[:12]
