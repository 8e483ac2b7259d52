"""Websocket ingest: one endpoint per telephony protocol, all driving the same live call.

The protocol logic lives in the sans-I/O adapters (`sentiment_svc.protocols`); this module
only moves their bytes and replies over the socket and hands the typed events to the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sentiment_svc.domain.codec import to_jsonable
from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.service import CallRejected, Service
from sentiment_svc.protocols.audio_fork import AudioForkAdapter
from sentiment_svc.protocols.audiohook import AudioHookAdapter
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    CallStop,
    ProtocolAdapter,
    ProtocolError,
    Reply,
)
from sentiment_svc.protocols.native import NativeAdapter
from sentiment_svc.protocols.twilio import TwilioAdapter
from sentiment_svc.web.auth import Role, websocket_principal

log = logging.getLogger(__name__)
router = APIRouter()

PROTOCOLS: dict[str, tuple[str, Callable[[], ProtocolAdapter]]] = {
    "/v1/ingest": ("native", NativeAdapter),
    "/v1/twilio": ("twilio", TwilioAdapter),
    "/v1/audiohook": ("audiohook", AudioHookAdapter),
    "/v1/audio-fork": ("audio_fork", AudioForkAdapter),
}


async def run_ingest(websocket: WebSocket, protocol: str, adapter: ProtocolAdapter) -> None:
    service: Service = websocket.app.state.service
    principal = await websocket_principal(websocket, websocket.app.state.tokens, {Role.INGEST})
    await websocket.accept()
    idle_timeout = service.settings.ingest_idle_timeout_s
    outgoing: asyncio.Queue[Reply | None] = asyncio.Queue()
    sender = asyncio.create_task(_send_replies(websocket, outgoing))
    call: LiveCall | None = None
    status = "completed"
    close_code, close_reason = 1000, "call ended"

    def send_alert(message: AlertMessage) -> None:
        reply = adapter.alert_message(to_jsonable(message))
        if reply is not None:
            outgoing.put_nowait(reply)

    idle = IdleWatch(idle_timeout)
    try:
        while True:
            idle.waiting()
            try:
                message = await websocket.receive()
            except asyncio.CancelledError:
                if not idle.expired or asyncio.current_task().uncancel():  # type: ignore[union-attr]
                    raise  # cancelled by someone else too: the server is stopping
                close_code, close_reason = 1008, f"no data for {idle_timeout:g} s"
                status = "interrupted"
                break
            idle.received()
            if message["type"] == "websocket.disconnect":
                events = adapter.connection_closed()
                close_code = 0
            elif message.get("bytes") is not None:
                events = adapter.receive_bytes(message["bytes"])
            else:
                events = adapter.receive_text(message.get("text") or "")
            for reply in adapter.replies():
                outgoing.put_nowait(reply)
            stop = False
            for event in events:
                if isinstance(event, CallStart):
                    call = await service.open_call(event, protocol, send_alert, principal)
                elif isinstance(event, AudioChunk) and call is not None:
                    await call.push(event)
                elif isinstance(event, CallStop):
                    stop = True
            if stop or close_code == 0:
                break
    except ProtocolError as error:
        status = "failed"
        service.metrics.protocol_errors.labels(protocol, error.code).inc()
        reply = adapter.error_message(error)
        if reply is not None:
            outgoing.put_nowait(reply)
        close_code, close_reason = error.close_code, error.message[:120]
    except CallRejected as error:
        status = "failed"
        close_code, close_reason = 1013, str(error)[:120]
    except WebSocketDisconnect:
        close_code = 0
    finally:
        idle.stop()
        if call is not None:
            await service.close_call(call, status)
        if close_code:
            for reply in adapter.close(close_reason):
                outgoing.put_nowait(reply)
        outgoing.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sender, 5)
        if close_code:
            with contextlib.suppress(Exception):
                await websocket.close(close_code, close_reason)


class IdleWatch:
    """Cancels the task that created it once it has waited `timeout_s` for a message.

    One timer per connection that re-arms itself, rather than a timeout around each 20 ms
    frame: entering and leaving `asyncio.timeout` costs about 10 us, a tenth of the event
    loop's work per message. The task tells it when it starts and stops waiting.
    """

    def __init__(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._timeout_s = timeout_s
        self._waiting_since: float | None = None
        self.expired = False
        self._timer = self._loop.call_later(timeout_s, self._check)

    def waiting(self) -> None:
        self._waiting_since = self._loop.time()

    def received(self) -> None:
        self._waiting_since = None

    def stop(self) -> None:
        self._timer.cancel()

    def _check(self) -> None:
        waited = 0.0 if self._waiting_since is None else self._loop.time() - self._waiting_since
        if waited >= self._timeout_s and self._task is not None:
            self.expired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_later(self._timeout_s - waited, self._check)


async def _send_replies(websocket: WebSocket, outgoing: asyncio.Queue[Reply | None]) -> None:
    while (reply := await outgoing.get()) is not None:
        try:
            if reply.data is not None:
                await websocket.send_bytes(reply.data)
            else:
                await websocket.send_text(reply.text or "")
        except Exception:  # the peer went away; drain so nobody waits on us
            log.debug("could not send a reply; the peer is gone")


def _endpoint(protocol: str, factory: Callable[[], ProtocolAdapter]):
    async def endpoint(websocket: WebSocket) -> None:
        await run_ingest(websocket, protocol, factory())

    endpoint.__name__ = f"ingest_{protocol}"
    return endpoint


for _path, (_protocol, _factory) in PROTOCOLS.items():
    router.add_api_websocket_route(_path, _endpoint(_protocol, _factory))
