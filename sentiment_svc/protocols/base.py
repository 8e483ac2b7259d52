"""The typed values every protocol adapter produces, its errors, and the adapter base class.

Adapters are sans-I/O, in the style of the ``websockets`` library's protocol layer: the
I/O shell feeds each received WebSocket message to `ProtocolAdapter.receive_text` or
`ProtocolAdapter.receive_bytes`, gets back a list of `ProtocolEvent` values, sends what
`ProtocolAdapter.replies` drains, and closes the socket with `ProtocolError.close_code`
(after sending `ProtocolAdapter.error_message`, where the protocol has one) when an input
is refused. To end a session itself it sends what `ProtocolAdapter.close` returns; when the
peer goes away it calls `ProtocolAdapter.connection_closed`, which stops a call that never
said stop. `ProtocolAdapter.alert_message` says how an alert reaches the telephony side,
`ProtocolAdapter.utterance_message` how a final utterance does (where it does).
Nothing here touches a socket, a thread or an event loop.

Audio stays at the call's own rate and sample format (int16); resampling to 16 kHz is the
audio stage's job. Times are seconds from the call start, as floats: each `AudioChunk` is
stamped with the platform's clock where it has one, and `sentiment_svc.live.timeline` lays
the chunks out on the call's timeline by those stamps (gaps become silence).
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

import numpy as np
import pydantic

from sentiment_svc.audio.codecs import CodecError, Encoding, decode
from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.domain.codec import to_jsonable
from sentiment_svc.domain.messages import AlertMessage, UtteranceMessage
from sentiment_svc.frames import Channel

Language = Literal["ru", "uk", "auto"]
CallEncoding = Literal["pcm16", "mulaw", "alaw"]

DEFAULT_MAX_TEXT_BYTES = 64 * 1024
DEFAULT_MAX_BINARY_BYTES = 64 * 1024
DEFAULT_SAMPLE_RATES = frozenset({8000, 16000})
MAX_ERROR_MESSAGE = 300
# RFC 6455's "abnormal closure": the connection ended without a close frame (it dropped).
# Never sent; a transport reports it to `ProtocolAdapter.connection_closed`.
CONNECTION_DROPPED = 1006


@dataclass(frozen=True, eq=False)
class CallStart:
    """A call's audio is about to flow: who is on it and how its audio is encoded."""

    call_id: str
    operator_id: str
    customer_id: str | None
    language: Language
    sample_rate: int
    encoding: CallEncoding
    channels: int  # channels in each AudioChunk whose `channel` is None
    channel_map: dict[int, Channel]  # interleaved channel index -> speaker
    extra: dict[str, Any] = field(default_factory=dict)  # protocol ids (stream sid, ...)
    # Who is heard on the call, where the speakers arrive as separate one-track chunks
    # (Twilio's tracks) rather than as the columns of `channel_map`.
    tracks: tuple[Channel, ...] = ()
    # Set where this connection carries one speaker of a call whose other speaker arrives
    # on another connection with the same call id (an Asterisk leg): its chunks are that
    # speaker's track, and `tracks` names both. None: the connection is the whole call.
    leg: Channel | None = None

    @property
    def speakers(self) -> list[Channel]:
        """The call's speakers in recording order: customer first, then operator."""
        heard = set(self.tracks) | set(self.channel_map.values())
        return [c for c in (Channel.CUSTOMER, Channel.OPERATOR) if c in heard]


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """Decoded audio at the call's own rate: int16 samples, shape ``(frames, channels)``.

    ``channel`` is set when the chunk is one speaker's mono track (Twilio sends the two
    tracks as separate messages); ``None`` means "map the columns through
    `CallStart.channel_map`". ``t`` is when the first frame was heard, in seconds from the
    start of the call (the protocol's own clock where it has one, else frames counted).
    """

    pcm: np.ndarray
    channel: Channel | None = None
    t: float = 0.0


@dataclass(frozen=True)
class CallStop:
    reason: str
    dropped: bool = False  # the connection went away without the protocol's own stop


@dataclass(frozen=True)
class Pause:
    """The telephony side stopped sending audio for a while (hold, a pause request)."""


@dataclass(frozen=True)
class Resume:
    """Audio flows again after a `Pause`.

    ``clocked``: the platform's clock ran through the pause, so the next chunk's ``t``
    already places it after the pause (AudioHook reports the paused audio as discarded).
    Otherwise the pause's wall-clock length becomes silence (`live.timeline`).
    """

    clocked: bool = False


@dataclass(frozen=True)
class Dtmf:
    """A key pressed on the phone; ``channel`` is whose phone, where the protocol says."""

    digit: str
    channel: Channel | None = None


@dataclass(frozen=True)
class Mark:
    """The telephony side echoed a mark we sent (Twilio). ``alert_id`` is the alert whose
    delivery it confirms, where the mark is one the adapter sent for an alert."""

    name: str
    alert_id: str | None = None


ProtocolEvent = CallStart | AudioChunk | CallStop | Pause | Resume | Dtmf | Mark


@dataclass(frozen=True)
class Reply:
    """One outgoing WebSocket message: text or binary, never both."""

    text: str | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.data is None):
            raise ValueError("a Reply carries exactly one of text or data")

    @classmethod
    def json(cls, message: dict[str, Any]) -> Reply:
        return cls(text=json.dumps(message, ensure_ascii=False, separators=(",", ":")))


class ErrorCode(StrEnum):
    MESSAGE_TOO_BIG = "message_too_big"
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    INVALID_BASE64 = "invalid_base64"
    INVALID_AUDIO = "invalid_audio"
    ODD_LENGTH_PCM = "odd_length_pcm"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    UNEXPECTED_BINARY = "unexpected_binary"
    UNEXPECTED_TEXT = "unexpected_text"
    UNSUPPORTED_VERSION = "unsupported_version"
    AUDIO_BEFORE_START = "audio_before_start"
    MESSAGE_BEFORE_START = "message_before_start"
    DUPLICATE_START = "duplicate_start"
    OUT_OF_ORDER = "out_of_order"
    MESSAGE_AFTER_STOP = "message_after_stop"
    SEQUENCE_ERROR = "sequence_error"
    SESSION_MISMATCH = "session_mismatch"
    UNKNOWN_TRACK = "unknown_track"
    BAD_START = "bad_start"
    UNSUPPORTED_SAMPLE_RATE = "unsupported_sample_rate"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    UNSUPPORTED_CHANNELS = "unsupported_channels"


# The close code of each refusal; any other `ErrorCode` closes with POLICY_VIOLATION.
DEFAULT_CLOSE_CODES: dict[str, CloseCode] = {
    ErrorCode.MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
    ErrorCode.INVALID_JSON: CloseCode.INVALID_PAYLOAD,
    ErrorCode.INVALID_MESSAGE: CloseCode.INVALID_PAYLOAD,
    ErrorCode.INVALID_BASE64: CloseCode.INVALID_PAYLOAD,
    ErrorCode.INVALID_AUDIO: CloseCode.INVALID_PAYLOAD,
    ErrorCode.ODD_LENGTH_PCM: CloseCode.INVALID_PAYLOAD,
    ErrorCode.UNKNOWN_TRACK: CloseCode.INVALID_PAYLOAD,
    ErrorCode.UNKNOWN_MESSAGE_TYPE: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.UNEXPECTED_BINARY: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.UNEXPECTED_TEXT: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.UNSUPPORTED_VERSION: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.BAD_START: CloseCode.BAD_REQUEST,
    ErrorCode.UNSUPPORTED_SAMPLE_RATE: CloseCode.BAD_REQUEST,
    ErrorCode.UNSUPPORTED_ENCODING: CloseCode.BAD_REQUEST,
    ErrorCode.UNSUPPORTED_CHANNELS: CloseCode.BAD_REQUEST,
}


class ProtocolError(Exception):
    """An input the adapter refuses; the session is over and the socket should close.

    ``code`` is one of `ErrorCode` (stable, for logs and error replies), ``message`` is one
    line for a person, ``close_code`` is the WebSocket close code to close with.
    ``accepted``: events of the same input that came before the refused part (a stream
    protocol's read can hold good messages, then a bad one); the shell acts on them first.
    """

    def __init__(self, code: str, message: str, close_code: CloseCode | None = None) -> None:
        message = " ".join(message.split())  # one line, even when it quotes the input
        if len(message) > MAX_ERROR_MESSAGE:
            message = message[: MAX_ERROR_MESSAGE - 1] + "…"
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
        self.close_code = close_code or DEFAULT_CLOSE_CODES.get(code, CloseCode.POLICY_VIOLATION)
        self.accepted: list[ProtocolEvent] = []


class ProtocolAdapter(ABC):
    """One WebSocket session of one telephony protocol, as a pure state machine.

    Subclasses implement `_on_text`, `_on_bytes`, `alert_message` and `close`; this class
    enforces the size limits, refuses everything after the call stopped, and remembers a
    raised `ProtocolError` so that later input raises it again.
    """

    name: str = "base"
    # A protocol without a stop message ends its calls by closing the socket; for the
    # others a closed socket before the stop is a dropped call.
    ends_by_closing: bool = False

    def __init__(
        self,
        *,
        max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
        max_binary_bytes: int = DEFAULT_MAX_BINARY_BYTES,
        sample_rates: Iterable[int] = DEFAULT_SAMPLE_RATES,
    ) -> None:
        self.max_text_bytes = max_text_bytes
        self.max_binary_bytes = max_binary_bytes
        self.sample_rates = frozenset(sample_rates)
        self.started: CallStart | None = None
        self.stopped = False
        self._replies: list[Reply] = []
        self._failed: ProtocolError | None = None

    def receive_text(self, text: str) -> list[ProtocolEvent]:
        self._check_can_receive()
        size = len(text)  # a character is at least one byte: only encode when it can matter
        if size <= self.max_text_bytes:
            size = len(text.encode("utf-8", "replace"))
        if size > self.max_text_bytes:
            self._fail(ErrorCode.MESSAGE_TOO_BIG, f"text message of at least {size} bytes "
                       f"exceeds the {self.max_text_bytes}-byte limit")
        return self._guard(self._on_text, text)

    def receive_bytes(self, data: bytes) -> list[ProtocolEvent]:
        self._check_can_receive()
        if len(data) > self.max_binary_bytes:
            self._fail(ErrorCode.MESSAGE_TOO_BIG, f"binary message of {len(data)} bytes exceeds "
                       f"the {self.max_binary_bytes}-byte limit")
        return self._guard(self._on_bytes, bytes(data))

    def replies(self) -> list[Reply]:
        """Drain the messages queued for the telephony side by the input received so far."""
        queued, self._replies = self._replies, []
        return queued

    @abstractmethod
    def alert_message(self, alert: AlertMessage) -> Reply | None:
        """How an alert goes back to the telephony side; None where the protocol has no way."""

    def utterance_message(self, utterance: UtteranceMessage) -> Reply | None:
        """How a final utterance goes back to the telephony side; None (the default) where
        the protocol has no way or no use for it."""
        return None

    @abstractmethod
    def close(self, reason: str) -> list[Reply]:
        """The server ends the session: the messages to send before closing the socket."""

    def error_message(self, error: ProtocolError) -> Reply | None:
        """The message telling the peer why the session failed, where the protocol has one."""
        return None

    def connection_closed(self, close_code: int | None = None) -> list[ProtocolEvent]:
        """The socket closed under us: a started call that never said stop stops here.
        ``close_code``: the peer's WebSocket close code (1006: no close frame, the
        connection dropped), where the transport has one; protocols that end their calls
        by closing may tell a hang-up from a drop by it."""
        if self.started is None or self.stopped:
            self.stopped = True
            return []
        self.stopped = True
        return [CallStop("connection_closed", dropped=not self.ends_by_closing)]

    @abstractmethod
    def _on_text(self, text: str) -> list[ProtocolEvent]: ...

    @abstractmethod
    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]: ...

    def _guard(self, handler: Callable[[Any], list[ProtocolEvent]], message: Any
               ) -> list[ProtocolEvent]:
        try:
            return handler(message)
        except ProtocolError as error:
            self._failed = error
            raise

    def _check_can_receive(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self.stopped:
            self._fail(ErrorCode.MESSAGE_AFTER_STOP, "the call already stopped; no more messages")

    def _fail(self, code: str, message: str, close_code: CloseCode | None = None) -> None:
        self._failed = ProtocolError(code, message, close_code)
        raise self._failed

    def _check_sample_rate(self, rate: int) -> None:
        if rate not in self.sample_rates:
            allowed = ", ".join(str(r) for r in sorted(self.sample_rates))
            raise ProtocolError(ErrorCode.UNSUPPORTED_SAMPLE_RATE,
                                f"sample rate {rate} Hz is not supported (allowed: {allowed})")


def parse_json_object(text: str) -> dict[str, Any]:
    """Parse one text message that must be a JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProtocolError(ErrorCode.INVALID_JSON, f"text message is not valid JSON: {detail}"
                            ) from None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE,
                            f"expected a JSON object, got {type(value).__name__}")
    return value


Model = TypeVar("Model", bound=pydantic.BaseModel)


def validate(model: type[Model], data: Any, what: str, code: str = ErrorCode.INVALID_MESSAGE
             ) -> Model:
    """Validate with pydantic; the first problem becomes a one-line `ProtocolError`."""
    try:
        return model.model_validate(data)
    except (pydantic.ValidationError, RecursionError) as error:
        if isinstance(error, pydantic.ValidationError) and error.errors():
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "message"
            detail = f"{where}: {first['msg']}"
        else:
            detail = "too deeply nested"
        raise ProtocolError(code, f"invalid {what}: {detail}") from None


def decode_base64(payload: str, what: str = "media payload") -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError(ErrorCode.INVALID_BASE64, f"{what} is not valid base64: {error}"
                            ) from None


def decode_audio(payload: bytes, encoding: Encoding | str, channels: int) -> np.ndarray:
    """Decode an audio payload; codec failures become `ProtocolError`s."""
    if Encoding(encoding) in (Encoding.PCM16, Encoding.PCM16_BE) and len(payload) % 2:
        raise ProtocolError(ErrorCode.ODD_LENGTH_PCM,
                            f"PCM16 audio frame of {len(payload)} bytes has an odd length")
    try:
        return decode(payload, encoding, channels)
    except CodecError as error:
        raise ProtocolError(ErrorCode.INVALID_AUDIO, str(error)) from None


def alert_fields(alert: AlertMessage) -> dict[str, Any]:
    """An alert's fields as JSON values, without ``type`` (each protocol wraps it its way)
    and without the fields it does not have (a None alert id)."""
    fields = to_jsonable(alert)
    fields.pop("type", None)
    return fields


def text_value(value: object) -> str | None:
    """An id or name from a protocol's free-form metadata: a non-blank string (stripped) or
    an integer, as text; anything else (booleans, objects, blanks) is None."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def language_from(value: object) -> Language:
    """"ru", "ru-RU", "uk", "uk-UA" (any case) map to ru/uk; anything else to "auto"."""
    if isinstance(value, str):
        primary = value.strip().lower().replace("_", "-").split("-")[0]
        if primary in ("ru", "uk"):
            return primary  # type: ignore[return-value]
        if primary == "ua":  # a common mistake for Ukrainian (ua is the country code)
            return "uk"
    return "auto"
