"""Asterisk's WebSocket channel driver (``chan_websocket``, Asterisk 20.16+, 21.11+, 22.6+, 23).

A ``WebSocket`` channel streams the audio Asterisk writes to it (a bridge's, or a snoop
channel's: one direction of a call) to a WebSocket. For an outgoing connection (a
``websocket_client.conf`` entry named in ``Dial(WebSocket/<connection>/...)`` or in ARI
``POST /channels/externalMedia?transport=websocket&encapsulation=none&external_host=
<connection>``), Asterisk is the WebSocket **client** and the service the server: it
connects to the configured ``uri`` (ours: ``/v1/asterisk``), offering the subprotocol the
entry names (usually ``media``) and no extensions (its client refuses a reply that has
any), and the dial string's ``v(name=value,...)`` option appends URI parameters to that
``uri`` (``?`` or ``&``). Then:

- TEXT ``MEDIA_START``, once, right after the handshake. Plain text (the default; key:value
  pairs, older releases without ``channel_id``/``format``/``ptime``)::

      MEDIA_START connection_id:media1 channel:WebSocket/media1/0x5140001a0040
        channel_id:1761245643.1 format:ulaw optimal_frame_size:160 ptime:20

  or, with ``control_message_format = json`` in ``chan_websocket.conf`` (20.18, 22.8, 23.2)
  or the dial option ``f(json)``, a JSON object ``{"event": "MEDIA_START", "connection_id",
  "channel", "channel_id", "format", "optimal_frame_size", "ptime", "channel_variables"}``.
- BINARY frames: the channel's audio in ``format`` with no header (``ulaw``/``alaw`` 160
  bytes per 20 ms; ``slin``, ``slin16``: signed 16-bit, little-endian as Asterisk's hosts).
- TEXT ``DTMF_END digit:5 channel_id:...`` (JSON ``{"event": "DTMF_END", "digit": "5"}``):
  a key pressed, written to the channel.
- TEXT notifications about media the *application* sends to Asterisk: ``MEDIA_XOFF`` /
  ``MEDIA_XON`` (its frame queue is nearly full / has room again), ``STATUS``,
  ``QUEUE_DRAINED``, ``MEDIA_BUFFERING_COMPLETED``, ``MEDIA_MARK_PROCESSED``, ``ERROR``.
  We send no media, so they are ignored: XOFF/XON throttle our direction, not Asterisk's
  audio, and are no pause of the call. Other well-formed event names a later release may
  add are ignored too; a text that is no event at all is refused.
- There is no hang-up message: when the channel hangs up, Asterisk closes the WebSocket
  (close code 1000 or the hang-up cause). A connection that ends without a close frame
  (1006; 1005 as uvicorn reports it) dropped: the call is stored as interrupted. Our
  ``HANGUP`` command (sent when the service ends the session) hangs up the WebSocket
  channel only: with a snoop channel in between, never the caller.

There is no clock in the stream (Asterisk sends a frame each ptime while the channel gets
audio): ``t`` counts frames. No alert can go back (Asterisk acts on commands only).

Who the connection is. Each connection carries ONE direction of a call, mono. The URI
parameters say which call and which speaker; with JSON control messages the same values
may instead come as channel variables (``SENTIMENT_CALL_ID``, ``SENTIMENT_SPEAKER``, ...,
e.g. set by ARI ``externalMedia``'s ``variables``), URI parameters winning:

- ``call_id``: the call (e.g. the caller channel's ``${UNIQUEID}``, or ``${LINKEDID}``);
  default: the WebSocket channel's id (the connection is a call of its own);
- ``speaker`` = ``customer`` | ``operator``: this connection is that speaker's leg of a
  two-leg call: the other leg arrives on a second connection with the same ``call_id``,
  and the service joins them into one stereo call (`live.legs`). Without it the connection
  is the whole call, heard as the customer (like a mono stream of the other protocols);
- ``operator_id`` (default "unknown"), ``customer_id`` (e.g. ``${CALLERID(num)}``: a phone
  number is stored hashed), ``language`` (ru, uk; else auto), ``format`` (only for releases
  whose ``MEDIA_START`` has no ``format``).

Sources: https://docs.asterisk.org/Configuration/Channel-Drivers/WebSocket/
(github.com/asterisk/documentation docs/Configuration/Channel-Drivers/WebSocket.md),
https://docs.asterisk.org/Latest_API/API_Documentation/Module_Configuration/chan_websocket/
and .../res_websocket_client/, https://docs.asterisk.org/Development/Reference-Information/
Asterisk-Framework-and-API-Examples/External-Media-and-ARI/, and Asterisk's
channels/chan_websocket.c, res/res_websocket_client.c, res/res_http_websocket.c
(github.com/asterisk/asterisk) for the exact event texts, the JSON variants and the close.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.base import (
    CONNECTION_DROPPED,
    AudioChunk,
    CallEncoding,
    CallStart,
    CallStop,
    Dtmf,
    ErrorCode,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    decode_audio,
    language_from,
    parse_json_object,
    text_value,
    validate,
)

# Asterisk format name -> our encoding and its rate. Other formats (g722, opus, slin24, ...)
# are refused: choose one of these with c(...) or externalMedia's `format`.
FORMATS: dict[str, tuple[CallEncoding, int]] = {
    "ulaw": ("mulaw", 8000),
    "alaw": ("alaw", 8000),
    "slin": ("pcm16", 8000),
    "slin16": ("pcm16", 16000),
}
SPEAKERS = {"customer": Channel.CUSTOMER, "operator": Channel.OPERATOR}
IGNORED_EVENTS = frozenset({
    "MEDIA_XOFF", "MEDIA_XON", "STATUS", "QUEUE_DRAINED", "MEDIA_BUFFERING_COMPLETED",
    "MEDIA_MARK_PROCESSED", "ERROR",
})
EVENT_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
DTMF_DIGITS = frozenset("0123456789*#ABCD")
PARAMETERS = ("call_id", "speaker", "operator_id", "customer_id", "language", "format")
VARIABLE_PREFIX = "SENTIMENT_"  # channel variable SENTIMENT_CALL_ID = parameter call_id
NO_STATUS_RECEIVED = 1005  # RFC 6455: a close without a code, or (uvicorn) a lost connection
DROPPED_CLOSE_CODES = frozenset({NO_STATUS_RECEIVED, CONNECTION_DROPPED})


class State(StrEnum):
    CONNECTED = "connected"  # waiting for MEDIA_START
    STREAMING = "streaming"
    ENDED = "ended"


class MediaStart(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    connection_id: str = Field(min_length=1, max_length=200)
    channel: str = Field(default="", max_length=200)
    channel_id: str | None = Field(default=None, max_length=200)
    format: str | None = Field(default=None, max_length=40)
    optimal_frame_size: int | None = Field(default=None, ge=0)
    ptime: int | None = Field(default=None, ge=0)
    channel_variables: dict[str, Any] = Field(default_factory=dict)


class AsteriskWsAdapter(ProtocolAdapter):
    name = "asterisk_ws"
    ends_by_closing = True

    def __init__(self, *, parameters: Mapping[str, str] | None = None, **limits: Any) -> None:
        """``parameters``: the connection URI's query parameters (the ``v(...)`` ones)."""
        super().__init__(**limits)
        given = parameters or {}
        self.parameters = {key: given[key] for key in PARAMETERS if key in given}
        self.state = State.CONNECTED
        self.json_control = False  # MEDIA_START came as JSON: commands go back as JSON
        self.speaker = Channel.CUSTOMER
        self._encoding: CallEncoding = "mulaw"
        self._frames = 0

    def _on_text(self, text: str) -> list[ProtocolEvent]:
        event, fields = self._parse(text)
        if event == "MEDIA_START":
            return [self._start(fields)]
        if event in IGNORED_EVENTS or (event != "DTMF_END" and EVENT_NAME.fullmatch(event)):
            return []
        if event != "DTMF_END":
            raise ProtocolError(ErrorCode.UNKNOWN_MESSAGE_TYPE,
                                f"not a chan_websocket event: {event[:40]!r}")
        if self.started is None:
            raise ProtocolError(ErrorCode.MESSAGE_BEFORE_START, "DTMF_END before MEDIA_START")
        digit = fields.get("digit")
        if not isinstance(digit, str) or digit not in DTMF_DIGITS:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE,
                                f"DTMF_END digit {str(digit)[:8]!r} is not one of 0-9 * # A-D")
        return [Dtmf(digit, self.speaker)]

    def _parse(self, text: str) -> tuple[str, dict[str, Any]]:
        """(event name, its fields) from a plain-text or a JSON control message."""
        if text.lstrip().startswith("{"):
            fields = parse_json_object(text)
            event = fields.get("event")
            if not isinstance(event, str):
                raise ProtocolError(ErrorCode.INVALID_MESSAGE,
                                    "JSON control message has no string 'event'")
            if event == "MEDIA_START":
                self.json_control = True
            return event, fields
        words = text.split()
        if not words:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "empty control message")
        pairs = (word.partition(":") for word in words[1:])
        return words[0], {key: value for key, colon, value in pairs if colon and key}

    def _start(self, fields: dict[str, Any]) -> CallStart:
        if self.started is not None:
            raise ProtocolError(ErrorCode.DUPLICATE_START, "a second MEDIA_START")
        media = validate(MediaStart, fields, "MEDIA_START", ErrorCode.BAD_START)
        value = self._identity(media.channel_variables)
        speaker_name = value("speaker")
        if speaker_name is not None and speaker_name.lower() not in SPEAKERS:
            raise ProtocolError(ErrorCode.BAD_START, f"speaker {speaker_name[:20]!r} is not "
                                "customer or operator")
        leg = SPEAKERS[speaker_name.lower()] if speaker_name is not None else None
        call_id = value("call_id")
        if leg is not None and call_id is None:
            raise ProtocolError(ErrorCode.BAD_START, f"the {leg} leg has no call_id: both legs "
                                "of a call must name it, e.g. v(call_id=${UNIQUEID},...)")
        name = media.format or value("format")
        if name is None:
            raise ProtocolError(ErrorCode.BAD_START, "MEDIA_START has no format and the URI "
                                "no format parameter")
        if name not in FORMATS:
            raise ProtocolError(ErrorCode.UNSUPPORTED_ENCODING, f"format {name[:20]!r} is not "
                                f"supported: use c(ulaw), c(alaw), c(slin) or c(slin16)")
        self._encoding, rate = FORMATS[name]
        self._check_sample_rate(rate)
        self.speaker = leg or Channel.CUSTOMER
        self.state = State.STREAMING
        self.started = CallStart(
            call_id=call_id or media.channel_id or media.connection_id,
            operator_id=value("operator_id") or "unknown",
            customer_id=value("customer_id"),
            language=language_from(value("language")),
            sample_rate=rate,
            encoding=self._encoding,
            channels=1,
            channel_map={0: self.speaker},
            extra={"connection_id": media.connection_id, "channel": media.channel,
                   "channel_id": media.channel_id, "format": name,
                   "optimal_frame_size": media.optimal_frame_size},
            tracks=(Channel.CUSTOMER, Channel.OPERATOR) if leg else (Channel.CUSTOMER,),
            leg=leg,
        )
        return self.started

    def _identity(self, variables: dict[str, Any]) -> Callable[[str], str | None]:
        """A lookup of one identity field: the URI parameter, else the channel variable."""
        def value(key: str) -> str | None:
            given = text_value(self.parameters.get(key))
            return given or text_value(variables.get(VARIABLE_PREFIX + key.upper()))
        return value

    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.started is None:
            raise ProtocolError(ErrorCode.AUDIO_BEFORE_START, "audio before MEDIA_START")
        pcm = decode_audio(data, self._encoding, 1)
        if not len(pcm):
            return []
        t = self._frames / self.started.sample_rate
        self._frames += len(pcm)
        return [AudioChunk(pcm=pcm, channel=self.speaker, t=t)]

    def connection_closed(self, close_code: int | None = None) -> list[ProtocolEvent]:
        """Asterisk hangs up by closing with a close frame that carries a code (its
        ``ast_websocket_close`` always sends one); a connection that ends without one
        dropped. (uvicorn reports a connection lost after the handshake as 1005, "no
        status", rather than 1006.)"""
        self.state = State.ENDED
        if self.started is None or self.stopped:
            self.stopped = True
            return []
        self.stopped = True
        dropped = close_code in DROPPED_CLOSE_CODES
        return [CallStop("connection_dropped" if dropped else "hangup", dropped=dropped)]

    def alert_message(self, alert: AlertMessage) -> Reply | None:
        return None  # chan_websocket takes commands only: nothing could show an alert

    def close(self, reason: str) -> list[Reply]:
        """``HANGUP`` ends the WebSocket channel (a snoop's, never the caller's)."""
        if self.stopped or self.started is None:
            self.stopped = True
            return []
        self.stopped = True
        self.state = State.ENDED
        return [Reply.json({"command": "HANGUP"}) if self.json_control else Reply(text="HANGUP")]
