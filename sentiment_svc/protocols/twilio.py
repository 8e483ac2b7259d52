"""Twilio Media Streams (``<Start><Stream>`` and bidirectional ``<Connect><Stream>``).

Every message is a JSON text frame with an ``event`` discriminator (Twilio never sends
binary frames)::

    {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    {"event": "start", "sequenceNumber": "1", "streamSid": "MZ...",
     "start": {"streamSid": "MZ...", "accountSid": "AC...", "callSid": "CA...",
               "tracks": ["inbound", "outbound"], "customParameters": {...},
               "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
    {"event": "media", "sequenceNumber": "3", "streamSid": "MZ...",
     "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "<base64 μ-law>"}}
    {"event": "dtmf", "streamSid": "MZ...", "sequenceNumber": "5",
     "dtmf": {"track": "inbound_track", "digit": "1"}}
    {"event": "mark", "sequenceNumber": "4", "streamSid": "MZ...", "mark": {"name": "..."}}
    {"event": "stop", "sequenceNumber": "5", "streamSid": "MZ...",
     "stop": {"accountSid": "AC...", "callSid": "CA..."}}

The ``inbound`` track (audio Twilio receives from the party on the call) is the customer,
``outbound`` (audio Twilio plays to them: the operator's leg) the operator; each media
message becomes a mono `AudioChunk` with its ``channel`` set, so the two tracks never mix.
``t`` is the track's ``timestamp`` (ms from the stream start).

Who is on the call: a ``<Stream>`` url takes no query string, so the TwiML passes it as
``<Parameter>`` nouns, which arrive in the ``start`` message's ``customParameters``::

    <Start><Stream url="wss://calls.example.com/v1/twilio" track="both_tracks">
      <Parameter name="operator_id" value="op-17"/>
      <Parameter name="customer_id" value="+79161234567"/>
      <Parameter name="language" value="uk-UA"/>
    </Stream></Start>

- ``operator_id``: whose console gets the call (else "unknown");
- ``customer_id``: the customer (a CRM id, or the caller's number, which the service keeps
  only as a keyed hash: `live.customer_ids`); none if absent;
- ``language``: ``ru``/``uk`` (``ru-RU``, ``uk-UA``, any case); anything else is "auto";
- ``call_id``: the call's id in the service (else the call SID).

Other parameters are ignored. Who may stream is not said here: the upgrade request is
signed (``X-Twilio-Signature``, `web.platform_auth`).

Twilio's clock: ``media.timestamp`` is per track, in ms from the stream start, and keeps
running whatever happens (a hold sends audio too; there are no pause events), so a track
that lost audio is placed by it (`live.timeline`). Without a timestamp, frames are counted.

On a bidirectional stream the server may send ``media``, ``mark`` and ``clear``; an alert
goes back as a ``mark`` named ``alert:<alert id>``, which Twilio echoes back once the audio
queued before it has played (with nothing queued, right away): that echo becomes a `Mark`
with the ``alert_id`` set, the platform's confirmation that the alert reached it. Marks we
did not send (or echoed twice) carry no ``alert_id``.

Sources: https://www.twilio.com/docs/voice/media-streams/websocket-messages (and its
``.md`` variant), https://www.twilio.com/docs/voice/twiml/stream,
https://events.apis.io/channels/twilio/media-streams/ (server-to-Twilio mark/clear).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    CallStop,
    Dtmf,
    ErrorCode,
    Mark,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    decode_audio,
    decode_base64,
    language_from,
    parse_json_object,
    text_value,
    validate,
)

SAMPLE_RATE = 8000
ALERT_MARK = "alert:"  # + the alert's id: the name of the mark an alert goes out as
TRACK_CHANNELS = {"inbound": Channel.CUSTOMER, "outbound": Channel.OPERATOR}
DTMF_TRACK_CHANNELS = {"inbound_track": Channel.CUSTOMER, "outbound_track": Channel.OPERATOR}
EVENTS = ("connected", "start", "media", "dtmf", "mark", "stop")
# The <Parameter> names read from the start message's customParameters.
OPERATOR_PARAMETER = "operator_id"
CUSTOMER_PARAMETER = "customer_id"
LANGUAGE_PARAMETER = "language"
CALL_ID_PARAMETER = "call_id"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MediaFormat(_Model):
    encoding: str
    sampleRate: int
    channels: int


class StartBody(_Model):
    streamSid: str = Field(min_length=1)
    accountSid: str = ""
    callSid: str = Field(min_length=1)
    tracks: list[Literal["inbound", "outbound"]] = Field(min_length=1, max_length=2)
    customParameters: dict[str, Any] = Field(default_factory=dict)
    mediaFormat: MediaFormat


class MediaBody(_Model):
    track: str
    chunk: str | None = None
    timestamp: str | None = None
    payload: str


class DtmfBody(_Model):
    track: str | None = None
    digit: str = Field(min_length=1, max_length=4)


class MarkBody(_Model):
    name: str


class Envelope(_Model):
    event: str
    sequenceNumber: str | int | None = None
    streamSid: str | None = None
    start: StartBody | None = None
    media: MediaBody | None = None
    dtmf: DtmfBody | None = None
    mark: MarkBody | None = None


class TwilioAdapter(ProtocolAdapter):
    name = "twilio"

    def __init__(self, *, bidirectional: bool = True, **limits: Any) -> None:
        """``bidirectional``: the stream came from ``<Connect><Stream>``, so marks can go back."""
        super().__init__(**limits)
        self.bidirectional = bidirectional
        self.stream_sid: str | None = None
        self._tracks: frozenset[str] = frozenset()
        self._seen_message = False
        self._last_sequence = 0
        self._frames = {"inbound": 0, "outbound": 0}
        self._marks: set[str] = set()  # ids of the alerts sent as marks, not yet echoed

    def _on_text(self, text: str) -> list[ProtocolEvent]:
        raw = parse_json_object(text)
        event = raw.get("event")
        if not isinstance(event, str):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "message has no string 'event' field")
        if event not in EVENTS:
            raise ProtocolError(ErrorCode.UNKNOWN_MESSAGE_TYPE, f"unknown Twilio event {event!r}")
        # Validate only the body this event uses: Twilio may add fields we ignore.
        body_keys = {"start": "start", "media": "media", "dtmf": "dtmf", "mark": "mark"}
        keep = {"event", "sequenceNumber", "streamSid", body_keys.get(event, "")}
        message = validate(Envelope, {k: v for k, v in raw.items() if k in keep},
                           f"Twilio {event} message",
                           ErrorCode.BAD_START if event == "start" else ErrorCode.INVALID_MESSAGE)
        self._check_sequence(message)
        first, self._seen_message = not self._seen_message, True
        if event == "connected":
            if not first:
                raise ProtocolError(ErrorCode.OUT_OF_ORDER,
                                    "'connected' must be the first message of the stream")
            return []
        if event == "start":
            return [self._start(message)]
        if self.started is None:
            code = (ErrorCode.AUDIO_BEFORE_START if event == "media"
                    else ErrorCode.MESSAGE_BEFORE_START)
            raise ProtocolError(code, f"'{event}' before 'start'")
        if message.streamSid is not None and message.streamSid != self.stream_sid:
            raise ProtocolError(ErrorCode.SESSION_MISMATCH, f"streamSid {message.streamSid!r} is "
                                f"not this stream's {self.stream_sid!r}")
        if event == "media":
            return self._media(message)
        if event == "dtmf":
            body = self._body(message.dtmf, event)
            return [Dtmf(body.digit, DTMF_TRACK_CHANNELS.get(body.track or "inbound_track"))]
        if event == "mark":
            return [self._mark(self._body(message.mark, event).name)]
        self.stopped = True
        return [CallStop("stop")]

    @staticmethod
    def _body(body: Any, event: str) -> Any:
        if body is None:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"'{event}' message without '{event}'")
        return body

    def _check_sequence(self, message: Envelope) -> None:
        if message.sequenceNumber is None:
            return
        try:
            sequence = int(message.sequenceNumber)
        except ValueError:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "sequenceNumber "
                                f"{message.sequenceNumber!r} is not an integer") from None
        if sequence <= self._last_sequence:
            raise ProtocolError(ErrorCode.SEQUENCE_ERROR, f"sequenceNumber {sequence} after "
                                f"{self._last_sequence}: messages out of order or repeated")
        self._last_sequence = sequence

    def _start(self, message: Envelope) -> CallStart:
        if self.started is not None:
            raise ProtocolError(ErrorCode.DUPLICATE_START, "a second 'start' in one stream")
        start = self._body(message.start, "start")
        media_format = start.mediaFormat
        if media_format.encoding != "audio/x-mulaw":
            raise ProtocolError(ErrorCode.UNSUPPORTED_ENCODING, "Twilio media encoding "
                                f"{media_format.encoding!r} is not audio/x-mulaw")
        self._check_sample_rate(media_format.sampleRate)
        if media_format.channels != 1:
            raise ProtocolError(ErrorCode.UNSUPPORTED_CHANNELS, "Twilio sends each track mono, "
                                f"not {media_format.channels} channels")
        params = start.customParameters
        self.stream_sid = start.streamSid
        self._tracks = frozenset(start.tracks)
        self.started = CallStart(
            call_id=text_value(params.get(CALL_ID_PARAMETER)) or start.callSid,
            operator_id=text_value(params.get(OPERATOR_PARAMETER)) or "unknown",
            customer_id=text_value(params.get(CUSTOMER_PARAMETER)),
            language=language_from(params.get(LANGUAGE_PARAMETER)),
            sample_rate=media_format.sampleRate,
            encoding="mulaw",
            channels=1,
            channel_map={0: Channel.CUSTOMER if "inbound" in self._tracks else Channel.OPERATOR},
            extra={"stream_sid": start.streamSid, "call_sid": start.callSid,
                   "account_sid": start.accountSid, "tracks": sorted(self._tracks)},
            tracks=tuple(TRACK_CHANNELS[track] for track in sorted(self._tracks)),
        )
        return self.started

    def _media(self, message: Envelope) -> list[ProtocolEvent]:
        media = self._body(message.media, "media")
        if media.track not in self._tracks:
            raise ProtocolError(ErrorCode.UNKNOWN_TRACK, f"media on track {media.track!r}; the "
                                f"stream announced {sorted(self._tracks)}")
        pcm = decode_audio(decode_base64(media.payload), "mulaw", 1)
        if not len(pcm):
            return []
        rate = self.started.sample_rate if self.started else SAMPLE_RATE
        counted = self._frames[media.track] / rate
        self._frames[media.track] += len(pcm)
        stamp = _millis(media.timestamp)
        t = stamp / 1000 if stamp is not None else counted
        return [AudioChunk(pcm=pcm, channel=TRACK_CHANNELS[media.track], t=t)]

    def _mark(self, name: str) -> Mark:
        alert_id = name.removeprefix(ALERT_MARK) if name.startswith(ALERT_MARK) else None
        if alert_id is None or alert_id not in self._marks:
            return Mark(name)  # not ours, or a second echo
        self._marks.discard(alert_id)
        return Mark(name, alert_id)

    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]:
        raise ProtocolError(ErrorCode.UNEXPECTED_BINARY,
                            "Twilio Media Streams sends JSON text messages only")

    def alert_message(self, alert: AlertMessage) -> Reply | None:
        """A mark named after the alert's id; none for an alert without one (not stored),
        whose echo could confirm nothing."""
        if (not self.bidirectional or self.started is None or self.stopped
                or not alert.alert_id):
            return None
        self._marks.add(alert.alert_id)
        return Reply.json({"event": "mark", "streamSid": self.stream_sid,
                           "mark": {"name": ALERT_MARK + alert.alert_id}})

    def close(self, reason: str) -> list[Reply]:
        """Twilio has no goodbye message: closing the socket ends the stream."""
        self.stopped = True
        return []


def _millis(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 15:
        return None
    return int(value)

