"""Ingest: one endpoint per telephony protocol, all driving the same live call.

The protocol logic lives in the sans-I/O adapters (`sentiment_svc.protocols`), the timing
in the sans-I/O `Timeline` (`sentiment_svc.live.timeline`); an `IngestSession` only moves
messages and replies over its transport and hands the typed events to the live call: audio
laid out by the platform's clock, key presses (`LiveCall.dtmf`, which masks the digits), the
platform's confirmation that an alert arrived (`LiveCall.alert_delivered`). The session is
transport-neutral (`IngestTransport`): the WebSocket endpoints here and the AudioSocket TCP
server (`web.audiosocket`) drive the same one. A connection that carries one speaker of a
call (an Asterisk leg, `CallStart.leg`) joins that call through `Service.legs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol as Interface

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.domain.messages import AlertMessage, UtteranceMessage
from sentiment_svc.domain.vocabulary import CallStatus, Protocol
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.legs import Leg
from sentiment_svc.live.service import CallRejected, Service
from sentiment_svc.live.timeline import Timeline, TimelineStats
from sentiment_svc.protocols.asterisk_ws import AsteriskWsAdapter
from sentiment_svc.protocols.audio_fork import AudioForkAdapter
from sentiment_svc.protocols.audiohook import AudioHookAdapter
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    CallStop,
    Dtmf,
    ErrorCode,
    Mark,
    Pause,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    Resume,
)
from sentiment_svc.protocols.native import NativeAdapter
from sentiment_svc.protocols.twilio import TwilioAdapter
from sentiment_svc.web.audiohook_auth import audiohook_principal
from sentiment_svc.web.platform_auth import ingest_principal

log = logging.getLogger(__name__)
router = APIRouter()
CALL_ID = re.compile(r"[^/\x00-\x1f\x7f]+")  # what a URL path segment can carry back

PROTOCOLS: dict[str, tuple[Protocol, Callable[[], ProtocolAdapter]]] = {
    "/v1/ingest": (Protocol.NATIVE, NativeAdapter),
    "/v1/twilio": (Protocol.TWILIO, TwilioAdapter),
    "/v1/audiohook": (Protocol.AUDIOHOOK, AudioHookAdapter),
    "/v1/audio-fork": (Protocol.AUDIO_FORK, AudioForkAdapter),
}
ASTERISK_PATH = "/v1/asterisk"  # chan_websocket: the adapter reads the URI's parameters
ASTERISK_SUBPROTOCOL = "media"  # what websocket_client.conf's `protocols` usually offers


@dataclass(frozen=True)
class Received:
    """One thing a transport received: a text or binary message, or the end of the
    connection (``close_code``: the peer's close code; `CONNECTION_DROPPED` without one)."""

    text: str | None = None
    data: bytes | None = None
    closed: bool = False
    close_code: int | None = None


class IngestTransport(Interface):
    """How an `IngestSession` talks to its peer: a WebSocket, or a raw TCP stream."""

    async def receive(self) -> Received: ...

    async def send(self, reply: Reply) -> None: ...

    async def close(self, code: CloseCode, reason: str) -> None: ...


class WebSocketTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> Received:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return Received(closed=True, close_code=message.get("code"))
        if message.get("bytes") is not None:
            return Received(data=message["bytes"])
        return Received(text=message.get("text") or "")

    async def send(self, reply: Reply) -> None:
        if reply.data is not None:
            await self.websocket.send_bytes(reply.data)
        else:
            await self.websocket.send_text(reply.text or "")

    async def close(self, code: CloseCode, reason: str) -> None:
        await self.websocket.close(code, reason)


class IngestSession:
    """One ingest connection, from accept to close: the socket's messages through the
    protocol adapter, its events to the live call, laid out by the call's `Timeline`.

    A started call is always closed through the service, with the status the session ended
    with: completed (the platform stopped or hung up), interrupted (idle too long, or the
    server is stopping), failed (a protocol error, a refused call, a bug).
    """

    def __init__(self, transport: IngestTransport, protocol: Protocol,
                 adapter: ProtocolAdapter, service: Service, owner: object = None) -> None:
        self.transport = transport
        self.protocol = protocol
        self.adapter = adapter
        self.service = service
        self.owner = owner  # the ingest token's principal: counted per token by the service
        self.call: LiveCall | None = None
        self.timeline: Timeline | None = None
        self.leg: Leg | None = None  # where the connection is one speaker of a shared call
        self.status = CallStatus.COMPLETED
        self.close_code: CloseCode | None = CloseCode.NORMAL  # None: the peer already closed
        self.close_reason = "call ended"
        self.idle_timeout_s = service.settings.ingest_idle_timeout_s
        self._outgoing: asyncio.Queue[Reply | None] = asyncio.Queue()

    async def run(self) -> None:
        """Serve the connection (already accepted) until the call ends; never raises for
        what the peer does."""
        sender = asyncio.create_task(self._send_replies())
        idle = IdleWatch(self.idle_timeout_s)
        try:
            await self._receive_loop(idle)
        except ProtocolError as error:
            self._fail(error)
        except CallRejected as error:
            self._end(CallStatus.FAILED, CloseCode.TRY_AGAIN_LATER, str(error))
        except WebSocketDisconnect:
            self.close_code = None
        except asyncio.CancelledError:
            self.status = CallStatus.INTERRUPTED  # the server is stopping
            raise
        except Exception:
            log.exception("ingest session of call %s failed", self._call_id())
            self._end(CallStatus.FAILED, CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            idle.stop()
            await self._close(sender)

    async def _receive_loop(self, idle: IdleWatch) -> None:
        while (message := await self._receive(idle)) is not None:
            try:
                events = self._read(message)
            except ProtocolError as error:
                for event in error.accepted:  # what came before the refused part counts
                    await self._handle(event)
                raise
            replies = self.adapter.replies()
            stopped = False
            for event in events:
                stopped = await self._handle(event) or stopped
            # After the events: a `started` goes out only once the service took the call.
            self._queue(replies)
            if stopped or self.close_code is None:
                return

    async def _receive(self, idle: IdleWatch) -> Received | None:
        """The next message; None once the peer was silent for the idle timeout."""
        idle.waiting()
        try:
            message = await self.transport.receive()
        except asyncio.CancelledError:
            if not idle.expired or asyncio.current_task().uncancel():  # type: ignore[union-attr]
                raise  # cancelled by someone else too: the server is stopping
            self._end(CallStatus.INTERRUPTED, CloseCode.POLICY_VIOLATION,
                      f"no data for {self.idle_timeout_s:g} s")
            return None
        idle.received()
        return message

    def _read(self, message: Received) -> list[ProtocolEvent]:
        if message.closed:
            self.close_code = None
            return self.adapter.connection_closed(message.close_code)
        if message.data is not None:
            return self.adapter.receive_bytes(message.data)
        return self.adapter.receive_text(message.text or "")

    async def _handle(self, event: ProtocolEvent) -> bool:
        """Act on one event; True when it stopped the call."""
        if isinstance(event, CallStart):
            await self._start(event)
        elif isinstance(event, CallStop):
            if event.dropped:
                self.status = CallStatus.INTERRUPTED
            return True
        elif self.call is None or self.timeline is None:
            return False  # nothing to attach it to (an AudioHook connection probe)
        elif isinstance(event, AudioChunk | Pause | Resume):
            await self._push(event)
        elif isinstance(event, Dtmf):
            await self.call.dtmf(event.digit, event.channel, self.timeline.position_s)
        elif isinstance(event, Mark) and event.alert_id is not None:
            self.call.alert_delivered(event.alert_id)
        return False

    async def _start(self, start: CallStart) -> None:
        if not CALL_ID.fullmatch(start.call_id):
            # A call is read, exported and erased at /v1/calls/{call_id}: one path segment.
            raise ProtocolError(ErrorCode.BAD_START,
                                f"call id {start.call_id[:40]!r} has a '/' or a control character")
        if start.leg is not None:
            self.leg = await self.service.legs.join(start, self.protocol, self.send_alert,
                                                    self.owner, time.monotonic())
            self.call, self.timeline = self.leg.call, self.leg.timeline
            return
        self.call = await self.service.open_call(start, self.protocol, self.send_alert,
                                                 self.owner, self.send_utterance)
        self.timeline = Timeline(start)

    async def _push(self, event: AudioChunk | Pause | Resume) -> None:
        assert self.call is not None and self.timeline is not None
        if isinstance(event, AudioChunk) and self.leg is not None and self.leg.offset_s:
            event = AudioChunk(event.pcm, event.channel, event.t + self.leg.offset_s)
        for chunk in self.timeline.feed(event, time.monotonic()):
            await self.call.push(chunk)

    def send_alert(self, alert: AlertMessage) -> None:
        """The call's alert, back to the telephony side where its protocol has a way."""
        reply = self.adapter.alert_message(alert)
        if reply is not None:
            self._outgoing.put_nowait(reply)

    def send_utterance(self, utterance: UtteranceMessage) -> None:
        """A final utterance, back to the telephony side where its protocol takes them."""
        reply = self.adapter.utterance_message(utterance)
        if reply is not None:
            self._outgoing.put_nowait(reply)

    def _fail(self, error: ProtocolError) -> None:
        self.service.metrics.protocol_errors.labels(self.protocol, error.code).inc()
        self._queue([self.adapter.error_message(error)])
        self._end(CallStatus.FAILED, error.close_code, error.message)

    def _end(self, status: CallStatus, code: CloseCode, reason: str) -> None:
        self.status, self.close_code, self.close_reason = status, code, reason[:120]

    async def _close(self, sender: asyncio.Task[None]) -> None:
        if self.leg is not None:
            await self.service.legs.leave(self.leg, self.status)
        elif self.call is not None:
            await self.service.close_call(self.call, self.status)
        if self.timeline is not None and self.timeline.stats != TimelineStats():
            log.info("call %s timeline: %s", self._call_id(), self.timeline.stats)
        if self.close_code is not None:
            self._queue(self.adapter.close(self.close_reason))
        self._outgoing.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sender, 5)
        if self.close_code is not None:
            with contextlib.suppress(Exception):
                await self.transport.close(self.close_code, self.close_reason)

    def _queue(self, replies: list[Reply | None]) -> None:
        for reply in replies:
            if reply is not None:
                self._outgoing.put_nowait(reply)

    async def _send_replies(self) -> None:
        while (reply := await self._outgoing.get()) is not None:
            try:
                await self.transport.send(reply)
            except Exception:  # the peer went away; drain so nobody waits on us
                log.debug("could not send a reply; the peer is gone")

    def _call_id(self) -> str:
        return self.call.info.call_id if self.call is not None else "(none)"


async def run_ingest(
    websocket: WebSocket, protocol: Protocol, adapter: ProtocolAdapter
) -> None:
    service: Service = websocket.app.state.service
    principal = None
    if protocol is Protocol.AUDIOHOOK:  # Genesys' API key and signed upgrade, or a token
        principal = await audiohook_principal(websocket)
        if principal is None:
            return  # refused before the upgrade: nothing was accepted
    else:
        principal = await ingest_principal(websocket, protocol)
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(ASTERISK_SUBPROTOCOL if protocol is Protocol.ASTERISK_WS
                           and ASTERISK_SUBPROTOCOL in offered else None)
    await IngestSession(WebSocketTransport(websocket), protocol, adapter, service,
                        principal).run()


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


def _endpoint(protocol: Protocol, factory: Callable[[], ProtocolAdapter]):
    async def endpoint(websocket: WebSocket) -> None:
        await run_ingest(websocket, protocol, factory())

    endpoint.__name__ = f"ingest_{protocol}"
    return endpoint


for _path, (_protocol, _factory) in PROTOCOLS.items():
    router.add_api_websocket_route(_path, _endpoint(_protocol, _factory))


@router.websocket(ASTERISK_PATH)
async def ingest_asterisk_ws(websocket: WebSocket) -> None:
    """Asterisk chan_websocket, connecting as the client: its URI parameters (the dial
    string's ``v(...)``) name the call and the speaker."""
    adapter = AsteriskWsAdapter(parameters=dict(websocket.query_params))
    await run_ingest(websocket, Protocol.ASTERISK_WS, adapter)
