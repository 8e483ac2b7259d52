"""Our own ingest protocol, served at ``/v1/ingest``.

A session, client to server::

    text    {"type": "start", "call_id": "c-1", "operator_id": "op-7", "customer_id": "cu-9",
             "language": "ru", "sample_rate": 8000, "encoding": "mulaw", "channels": 2,
             "customer_channel": 1}
    binary  interleaved audio frames in that encoding (any whole number of frames each)
    text    {"type": "pause"}  ...  {"type": "resume"}   (optional: a hold)
    text    {"type": "stop"}                       (optionally with "reason": "...")

Server to client::

    {"type": "started", "call_id": "c-1"}          after a valid start
    {"type": "ack", "received_ms": 3000}           each time another 1000 ms of audio arrived
    {"type": "alert", "t": ..., "action": ..., ...} an alert for this call
    {"type": "error", "code": "...", "message": "..."}  before the server closes on an error

``language`` defaults to "auto", ``customer_id`` to none, ``customer_channel`` to 0. With
``channels: 1`` the single channel is the customer (``customer_channel`` must be 0); with
``channels: 2`` the other channel is the operator. ``pcm16`` is signed little-endian.
Unknown fields are refused, so typos fail loudly instead of silently.

The protocol has no clock: a chunk's ``t`` counts the frames sent before it. A ``pause``
(the customer is on hold, the client sends nothing) and its ``resume`` become `Pause` and
an unclocked `Resume`: the hold's wall-clock length is laid out as silence
(`live.timeline`). Audio sent while paused resumes the call first; a second ``pause`` or a
``resume`` while not paused changes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallEncoding,
    CallStart,
    CallStop,
    ErrorCode,
    Language,
    Pause,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    Resume,
    alert_fields,
    decode_audio,
    parse_json_object,
    validate,
)

ACK_EVERY_MS = 1000
ENCODINGS = ("pcm16", "mulaw", "alaw")


class StartMessage(BaseModel):
    # strict: "8000" is not a sample rate and true is not a channel count
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["start"]
    call_id: str = Field(min_length=1, max_length=200)
    operator_id: str = Field(min_length=1, max_length=200)
    customer_id: str | None = Field(default=None, max_length=200)
    language: Language = "auto"
    sample_rate: int
    encoding: CallEncoding
    channels: int = Field(ge=1, le=2)  # a Literal would take true for 1
    customer_channel: int = Field(default=0, ge=0, le=1)


class StopMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["stop"]
    reason: str = Field(default="stop", max_length=500)


class HoldMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pause", "resume"]


class NativeAdapter(ProtocolAdapter):
    name = "native"

    def __init__(self, **limits: Any) -> None:
        super().__init__(**limits)
        self._frames = 0
        self._acked_ms = 0
        self.paused = False

    def _on_text(self, text: str) -> list[ProtocolEvent]:
        message = parse_json_object(text)
        kind = message.get("type")
        if not isinstance(kind, str):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "message has no string 'type' field")
        if kind == "start":
            return [self._start(message)]
        if kind == "stop":
            if self.started is None:
                raise ProtocolError(ErrorCode.MESSAGE_BEFORE_START, "stop before start")
            stop = validate(StopMessage, message, "stop message")
            self.stopped = True
            return [CallStop(stop.reason)]
        if kind in ("pause", "resume"):
            return self._hold(message)
        raise ProtocolError(ErrorCode.UNKNOWN_MESSAGE_TYPE, f"unknown message type {kind!r} "
                            "(expected 'start', 'pause', 'resume' or 'stop')")

    def _hold(self, message: dict[str, Any]) -> list[ProtocolEvent]:
        if self.started is None:
            raise ProtocolError(ErrorCode.MESSAGE_BEFORE_START, f"{message['type']} before start")
        hold = validate(HoldMessage, message, f"{message['type']} message")
        pause = hold.type == "pause"
        if pause == self.paused:
            return []
        self.paused = pause
        return [Pause() if pause else Resume()]

    def _start(self, message: dict[str, Any]) -> CallStart:
        if self.started is not None:
            raise ProtocolError(ErrorCode.DUPLICATE_START, "a second start message in one session")
        encoding = message.get("encoding")
        if isinstance(encoding, str) and encoding not in ENCODINGS:
            raise ProtocolError(ErrorCode.UNSUPPORTED_ENCODING, f"unknown encoding {encoding!r} "
                                f"(use one of {', '.join(ENCODINGS)})")
        start = validate(StartMessage, message, "start message", ErrorCode.BAD_START)
        self._check_sample_rate(start.sample_rate)
        if start.channels == 1 and start.customer_channel != 0:
            raise ProtocolError(ErrorCode.BAD_START, "customer_channel 1 needs channels: 2")
        if start.channels == 1:
            channel_map = {0: Channel.CUSTOMER}
        else:
            operator = 1 - start.customer_channel
            channel_map = {start.customer_channel: Channel.CUSTOMER, operator: Channel.OPERATOR}
        self.started = CallStart(
            call_id=start.call_id,
            operator_id=start.operator_id,
            customer_id=start.customer_id,
            language=start.language,
            sample_rate=start.sample_rate,
            encoding=start.encoding,
            channels=start.channels,
            channel_map=dict(sorted(channel_map.items())),
        )
        self._replies.append(Reply.json({"type": "started", "call_id": start.call_id}))
        return self.started

    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.started is None:
            raise ProtocolError(ErrorCode.AUDIO_BEFORE_START,
                                "audio frame before the start message")
        pcm = decode_audio(data, self.started.encoding, self.started.channels)
        if not len(pcm):
            return []
        rate = self.started.sample_rate
        resumed: list[ProtocolEvent] = [Resume()] if self.paused else []
        self.paused = False
        chunk = AudioChunk(pcm=pcm, t=self._frames / rate)
        self._frames += len(pcm)
        received_ms = self._frames * 1000 // rate
        if received_ms - self._acked_ms >= ACK_EVERY_MS:
            self._acked_ms = received_ms - received_ms % ACK_EVERY_MS
            self._replies.append(Reply.json({"type": "ack", "received_ms": self._acked_ms}))
        return [*resumed, chunk]

    def alert_message(self, alert: AlertMessage) -> Reply | None:
        if self.started is None:
            return None
        return Reply.json({"type": "alert", **alert_fields(alert)})

    def close(self, reason: str) -> list[Reply]:
        """Nothing to say: the shell closes with 1000 and ``reason`` in the close frame."""
        self.stopped = True
        return []

    def error_message(self, error: ProtocolError) -> Reply | None:
        return Reply.json({"type": "error", "code": error.code, "message": error.message})
