"""Genesys Cloud AudioHook protocol, version 2 (AudioHook Monitor: audio in, events out).

Genesys (the client) sends JSON text messages and binary audio frames; every text message
carries ``version`` ("2"), ``id`` (the session id, also the ``Audiohook-Session-Id``
header), ``type``, ``seq`` (client sequence, 1, 2, ...), ``serverseq`` (the last server seq
it saw), ``position`` (ISO 8601 duration, e.g. "PT12.34S") and ``parameters``::

    open       {organizationId, conversationId, participant: {id, ani, aniName, dnis},
                media: [{type: "audio", format: "PCMU", channels: ["external", "internal"],
                         rate: 8000}, ...], language?, supportedLanguages?, customConfig?}
    ping       {rtt?}                 -> server "pong" {}
    paused {} / resumed {start, discarded}   (the client reports a pause; no reply)
    discarded  {start, discarded}     (audio the client dropped: a gap in the stream)
    update     {language}             error {code, message}
    close      {reason}               -> server "closed" {}

Server messages carry ``version``, ``id``, ``type``, ``seq`` (server sequence from 1),
``clientseq`` (the last client seq seen) and ``parameters``: ``opened`` {media: [chosen],
startPaused}, ``pong``, ``closed``, ``event`` {entities: [{type, data}]}, ``disconnect``
{reason: completed|unauthorized|error, info}. A client ``seq`` must be the previous one
plus 1, its ``serverseq`` at most ours, its ``id`` this session's.

Timing: the client's stream position is the audio it sent plus the audio it discarded
(``discarded``, and a ``resumed``'s ``discarded``: what it did not send while paused). Each
chunk's ``t`` is that position when its first frame was heard, so a gap or a pause the
client reports is placed on the timeline (`live.timeline`); a ``resumed`` that reports
discarded audio is a clocked `Resume`, one that reports none (the position stood still, as
in the reference client's WAV source) leaves the pause's length to the wall clock. The
``position`` field of text messages reports that same position; it does not move audio.

Media: we choose a PCMU offer, preferring stereo ``["external", "internal"]``, then mono
external, then mono internal. Binary frames are interleaved PCMU in the chosen channel
order; ``external`` (the customer) and ``internal`` (the agent) map to CUSTOMER/OPERATOR.
The open has no agent id: ``operator_id`` comes from ``inputVariables`` or ``customConfig``
(``operator_id``), else "unknown"; ``customer_id`` from there, else the participant's ANI.
A ``conversationId`` of all zeros is Genesys' connection probe: answered with ``opened``
but no `CallStart`.

Events: each final utterance goes out as an ``event`` with a ``transcript`` entity on the
speaker's channel, each alert as an ``event`` with an ``agentassist`` entity whose
``article`` suggestion carries the action, severity, reason and evidence; the mapping is
`sentiment_svc.protocols.audiohook_entities`. Credentials (API key, signed upgrade) are
checked before the socket is accepted: `sentiment_svc.web.audiohook_auth`.

Sources: https://developer.genesys.cloud/devapps/audiohook (protocol reference and session
walkthrough, as cited by the implementations below); the Genesys reference implementation
https://github.com/purecloudlabs/audiohook-reference-implementation
(app/audiohook/src/protocol/message.ts, core.ts, validators.ts,
app/audiohook/src/server/serversessionimpl.ts); https://help.mypurecloud.com/faqs/
what-happens-during-a-successful-session-between-genesys-cloud-and-your-audiohook-server/;
the open example in https://github.com/iMicknl/azure-genesys-audiohook
(server/python/tests/test_websocket_server.py).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import AlertMessage, UtteranceMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.audiohook_entities import agentassist_entity, transcript_entity
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    CallStop,
    ErrorCode,
    Pause,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    Resume,
    decode_audio,
    language_from,
    parse_json_object,
    text_value,
    validate,
)

VERSION = "2"
NULL_UUID = "00000000-0000-0000-0000-000000000000"
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DURATION = re.compile(r"^PT(\d{0,12}\.)?\d{1,12}S$")
CLIENT_TYPES = ("open", "close", "discarded", "error", "paused", "ping", "resumed", "update")
CHANNELS = {"external": Channel.CUSTOMER, "internal": Channel.OPERATOR}
SUPPORTED_LANGUAGES = ["ru-RU", "uk-UA"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ClientMessage(_Model):
    version: str
    id: str = Field(pattern=UUID)
    type: str
    seq: int = Field(ge=0)
    serverseq: int = Field(ge=0)
    position: str = Field(pattern=DURATION.pattern)
    parameters: dict[str, Any]


class MediaOffer(_Model):
    type: str
    format: str
    channels: list[str] = Field(min_length=1, max_length=2)
    rate: int


class Participant(_Model):
    id: str = Field(pattern=UUID)
    ani: str = ""
    aniName: str = ""
    dnis: str = ""


class OpenParameters(_Model):
    organizationId: str = Field(pattern=UUID)
    conversationId: str = Field(pattern=UUID)
    participant: Participant
    media: list[MediaOffer]
    language: str | None = None
    supportedLanguages: bool = False
    customConfig: dict[str, Any] = Field(default_factory=dict)
    inputVariables: dict[str, Any] = Field(default_factory=dict)


class Gap(_Model):
    """``discarded`` and ``resumed`` parameters: audio that never reached us."""

    start: str = Field(default="PT0S", pattern=DURATION.pattern)
    discarded: str = Field(default="PT0S", pattern=DURATION.pattern)


State = Literal["preparing", "active", "paused", "closed"]


class AudioHookAdapter(ProtocolAdapter):
    name = "audiohook"

    def __init__(self, *, session_id: str | None = None, **limits: Any) -> None:
        """``session_id``: the ``Audiohook-Session-Id`` header, if the shell has it."""
        super().__init__(**limits)
        self.session_id = session_id
        self.state: State = "preparing"
        self.probe = False
        self.seq = 0
        self.clientseq = 0
        self._media: MediaOffer | None = None
        self._frames = 0
        self._gap_seconds = 0.0
        self._disconnected = False  # we sent disconnect: a second one would be noise

    # --- client messages -------------------------------------------------------------------

    def _on_text(self, text: str) -> list[ProtocolEvent]:
        raw = parse_json_object(text)
        version = raw.get("version", VERSION)
        if version != VERSION:
            shown = repr(version) if isinstance(version, str | int | float) else "non-string"
            raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                                f"AudioHook version {shown}; this server speaks '2'")
        message = validate(ClientMessage, raw, "AudioHook client message")
        if message.seq != self.clientseq + 1:
            raise ProtocolError(ErrorCode.SEQUENCE_ERROR, f"seq {message.seq} after client seq "
                                f"{self.clientseq}: must increase by exactly 1")
        if message.serverseq > self.seq:
            raise ProtocolError(ErrorCode.SEQUENCE_ERROR, f"serverseq {message.serverseq} is "
                                f"ahead of the last server seq {self.seq}")
        if self.session_id is None:
            self.session_id = message.id
        elif message.id.lower() != self.session_id.lower():
            raise ProtocolError(ErrorCode.SESSION_MISMATCH,
                                f"message id {message.id} is not this session's {self.session_id}")
        self.clientseq = message.seq
        kind = message.type
        if kind not in CLIENT_TYPES:
            raise ProtocolError(ErrorCode.UNKNOWN_MESSAGE_TYPE,
                                f"{kind!r} is not an AudioHook client message type")
        params = message.parameters
        if kind == "open":
            return self._open(params)
        if kind == "ping":
            self._send("pong", {})
            return []
        if kind == "close":
            return self._close(params)
        if kind == "error":
            return []  # the client reporting a problem with our messages; it will close
        if self.state == "preparing":
            raise ProtocolError(ErrorCode.MESSAGE_BEFORE_START, f"'{kind}' before 'open'")
        if kind == "paused":
            return self._pause()
        if kind in ("resumed", "discarded"):
            discarded = _seconds(validate(Gap, params, f"'{kind}' parameters").discarded)
            self._gap_seconds += discarded
            if kind == "resumed" and self.state == "paused":
                self.state = "active"
                return [] if self.probe else [Resume(clocked=discarded > 0)]
        return []  # update (a language change) needs nothing from us

    def _open(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state != "preparing":
            raise ProtocolError(ErrorCode.DUPLICATE_START, "a second 'open' in one session")
        opened = validate(OpenParameters, params, "'open' parameters", ErrorCode.BAD_START)
        media = self._choose_media(opened.media)
        self._media = media
        reply: dict[str, Any] = {"startPaused": False, "media": [media.model_dump()]}
        if opened.supportedLanguages:
            reply["supportedLanguages"] = SUPPORTED_LANGUAGES
        self._send("opened", reply)
        self.state = "active"
        if opened.conversationId == NULL_UUID:
            self.probe = True  # Genesys checking that we answer; no call behind it
            return []
        settings = {**opened.customConfig, **opened.inputVariables}
        participant = opened.participant
        self.started = CallStart(
            call_id=text_value(settings.get("call_id")) or opened.conversationId,
            operator_id=text_value(settings.get("operator_id")) or "unknown",
            customer_id=text_value(settings.get("customer_id")) or text_value(participant.ani)
            or participant.id,
            language=language_from(settings.get("language") or opened.language),
            sample_rate=media.rate,
            encoding="mulaw",
            channels=len(media.channels),
            channel_map={index: CHANNELS[name] for index, name in enumerate(media.channels)},
            extra={"session_id": self.session_id, "organization_id": opened.organizationId,
                   "participant_id": participant.id, "ani": participant.ani,
                   "dnis": participant.dnis},
        )
        return [self.started]

    def _choose_media(self, offers: list[MediaOffer]) -> MediaOffer:
        if not offers:
            raise ProtocolError(ErrorCode.BAD_START, "'open' offers no media")
        usable = [o for o in offers if o.type == "audio" and o.format == "PCMU"
                  and set(o.channels) <= set(CHANNELS) and len(set(o.channels)) == len(o.channels)]
        if not usable:
            formats = sorted({o.format for o in offers})
            raise ProtocolError(ErrorCode.UNSUPPORTED_ENCODING,
                                f"no PCMU audio offer among the media formats {formats}")
        rated = [o for o in usable if o.rate in self.sample_rates]
        if not rated:
            self._check_sample_rate(usable[0].rate)
        preference = (["external", "internal"], ["internal", "external"], ["external"],
                      ["internal"])
        return min(rated, key=lambda o: preference.index(o.channels))

    def _pause(self) -> list[ProtocolEvent]:
        if self.state != "active":
            return []  # already paused, or closed: pause reports are idempotent
        self.state = "paused"
        return [] if self.probe else [Pause()]

    def _close(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        reason = params.get("reason")
        self._send("closed", {})
        self.state = "closed"
        self.stopped = True
        if self.started is None:
            return []
        return [CallStop(reason[:100] if isinstance(reason, str) and reason else "end")]

    # --- audio -----------------------------------------------------------------------------

    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self._media is None:
            raise ProtocolError(ErrorCode.AUDIO_BEFORE_START, "audio frame before 'opened'")
        if self.state != "active":
            raise ProtocolError(ErrorCode.OUT_OF_ORDER, f"audio frame while {self.state}")
        pcm = decode_audio(data, "mulaw", len(self._media.channels))
        if self.probe or not len(pcm):
            return []
        t = self._frames / self._media.rate + self._gap_seconds
        self._frames += len(pcm)
        return [AudioChunk(pcm=pcm, t=t)]

    # --- server messages -------------------------------------------------------------------

    def _message(self, kind: str, parameters: dict[str, Any]) -> Reply:
        self.seq += 1
        return Reply.json({"version": VERSION, "id": self.session_id or NULL_UUID, "seq": self.seq,
                           "clientseq": self.clientseq, "type": kind, "parameters": parameters})

    def _send(self, kind: str, parameters: dict[str, Any]) -> None:
        self._replies.append(self._message(kind, parameters))

    def alert_message(self, alert: AlertMessage) -> Reply | None:
        """An ``event`` with an ``agentassist`` entity; it takes a server seq, so it must be
        sent once made."""
        if not self._can_send_events():
            return None
        return self._event(agentassist_entity(alert, self._session()).model_dump(
            exclude_none=True))

    def utterance_message(self, utterance: UtteranceMessage) -> Reply | None:
        """An ``event`` with a ``transcript`` entity on the speaker's channel (none for a
        speaker the chosen media does not carry)."""
        if not self._can_send_events() or self._media is None:
            return None
        name = next(n for n, channel in CHANNELS.items() if channel == utterance.channel)
        if name not in self._media.channels:
            return None
        channel_id: Literal[0, 1] = 0 if self._media.channels.index(name) == 0 else 1
        return self._event(transcript_entity(utterance, self._session(), channel_id)
                           .model_dump(exclude_none=True))

    def _can_send_events(self) -> bool:
        return self.started is not None and self.state in ("active", "paused")

    def _session(self) -> str:
        return self.session_id or NULL_UUID

    def _event(self, entity: dict[str, Any]) -> Reply:
        return self._message("event", {"entities": [entity]})

    def close(self, reason: str) -> list[Reply]:
        """Ask Genesys to end the session (``disconnect``); it answers with ``close``, which
        `receive_text` answers with ``closed``. Nothing to send once closed or disconnected."""
        if self.state == "closed" or self._disconnected:
            return []
        self._disconnected = True
        return [self._message("disconnect", {"reason": "completed", "info": reason})]

    def error_message(self, error: ProtocolError) -> Reply | None:
        if self.state == "closed" or self._disconnected:
            return None
        self._disconnected = True
        return self._message("disconnect", {"reason": "error", "info": error.message})


def _seconds(duration: str) -> float:
    match = DURATION.match(duration)
    return float(duration[2:-1]) if match else 0.0

