"""FreeSWITCH ``mod_audio_fork``, as the jambonz ``listen`` verb drives it.

Once the WebSocket (subprotocol ``audio.jambonz.org``; ``audio.drachtio.org`` for plain
mod_audio_fork) is open, exactly one JSON text frame of metadata arrives: jambonz sends the
call attributes of its webhooks (``callSid``, ``direction``, ``from``, ``to``, ``callId``,
``accountSid``, ...), ``sampleRate`` and ``mixType``, merged with the verb's own
``metadata`` object at the top level. Then binary frames of 16-bit little-endian linear PCM
at ``sampleRate`` follow, interleaved when stereo. Nothing marks the end: the socket just
closes (the shell calls `ProtocolAdapter.connection_closed`).

``mixType``: ``mono`` is the caller's audio alone; ``stereo`` puts the caller in one channel
and the callee in the other (channel 0 is the read side of the FreeSWITCH media bug: the
remote party of the leg jambonz handles, which in a contact centre is the customer on both
inbound and outbound calls); ``mixed`` is one channel with both voices, which cannot be told
apart, so it is attributed to the customer: sentiment then reads the whole conversation as
the customer's. A ``customer_channel`` (0 or 1) in the metadata overrides the stereo order.

Call ids come from metadata keys ``call_id`` (else ``callSid``/``call_sid``/``callId``/
``uuid``), ``operator_id`` (else "unknown"), ``customer_id`` (else the caller number
``from`` on inbound calls, the called number ``to`` on outbound ones) and ``language``. A
plain mod_audio_fork start command passes mix type and rate as arguments, not metadata:
give them as ``default_mix_type``/``default_sample_rate``.

There is no clock in the stream: a chunk's ``t`` counts the frames before it, and nothing
pauses it.

Later text frames are optional: jambonz sends ``{"event": "dtmf", "dtmf": "5", ...}`` with
``passDtmf`` and ``{"type": "playDone", ...}`` after a ``playAudio``; mod_audio_fork's
``send_text``/``stop`` may send arbitrary text. DTMF becomes a `Dtmf` event; anything else,
JSON or not, is ignored. Server to client, jambonz acts on ``playAudio``, ``killAudio`` and
``disconnect`` (which `close` sends); mod_audio_fork also turns ``transcription``,
``transfer``, ``error`` and ``json`` messages into FreeSWITCH events (``mod_audio_fork::json``
carries the whole message), so an alert goes out as ``{"type": "json", "data": {"type":
"alert", ...}}``: FreeSWITCH ESL applications can subscribe to it, jambonz ignores it.

Sources: https://docs.jambonz.org/verbs/verbs/listen, https://www.jambonz.org/docs/webhooks/
listen/ (github.com/jambonz/next-static-site markdown/docs/webhooks/listen.md),
https://www.jambonz.org/docs/supporting-articles/bidirectional-audio/,
https://github.com/jambonz/jambonz-feature-server (lib/tasks/listen.js,
lib/session/call-info.js), https://github.com/jambonz/freeswitch-modules
(mod_audio_fork/lws_glue.cpp), https://github.com/drachtio/drachtio-freeswitch-modules
(modules/mod_audio_fork/README.md).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    Dtmf,
    ErrorCode,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    alert_fields,
    decode_audio,
    language_from,
    parse_json_object,
    text_value,
    validate,
)

MixType = Literal["mono", "mixed", "stereo"]
MIX_TYPES = ("mono", "mixed", "stereo")
CALL_ID_KEYS = ("call_id", "callSid", "call_sid", "callId", "uuid")


class Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sampleRate: int | None = None
    mixType: MixType | None = None
    customer_channel: Literal[0, 1] = 0


class AudioForkAdapter(ProtocolAdapter):
    name = "audio_fork"
    ends_by_closing = True

    def __init__(self, *, default_sample_rate: int | None = None,
                 default_mix_type: MixType | None = None, **limits: Any) -> None:
        super().__init__(**limits)
        self.default_sample_rate = default_sample_rate
        self.default_mix_type = default_mix_type
        self.mix_type: MixType | None = None
        self._frames = 0

    def _on_text(self, text: str) -> list[ProtocolEvent]:
        if self.started is None:
            return [self._start(parse_json_object(text))]
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return []  # free text from mod_audio_fork's send_text/stop: nothing for us
        if isinstance(message, dict) and message.get("event") == "dtmf":
            digit = message.get("dtmf")
            if isinstance(digit, str) and 0 < len(digit) <= 4:
                return [Dtmf(digit, Channel.CUSTOMER)]
        return []

    def _start(self, metadata: dict[str, Any]) -> CallStart:
        mix_type = metadata.get("mixType", self.default_mix_type)
        if mix_type is None:
            raise ProtocolError(ErrorCode.BAD_START, "metadata has no mixType "
                                "(mono|mixed|stereo) and no default_mix_type is configured")
        if mix_type not in MIX_TYPES:
            raise ProtocolError(ErrorCode.UNSUPPORTED_CHANNELS,
                                f"mixType {mix_type!r} is not one of {', '.join(MIX_TYPES)}")
        fields = validate(Metadata, {**metadata, "mixType": mix_type}, "listen metadata",
                          ErrorCode.BAD_START)
        rate = fields.sampleRate if fields.sampleRate is not None else self.default_sample_rate
        if rate is None:
            raise ProtocolError(ErrorCode.BAD_START, "metadata has no sampleRate and no "
                                "default_sample_rate is configured")
        self._check_sample_rate(rate)
        call_id = next((v for v in map(text_value, map(metadata.get, CALL_ID_KEYS)) if v), None)
        if call_id is None:
            raise ProtocolError(ErrorCode.BAD_START, "metadata has no call id (one of "
                                f"{', '.join(CALL_ID_KEYS)})")
        direction = metadata.get("direction")
        outbound = isinstance(direction, str) and direction.lower() == "outbound"
        caller = text_value(metadata.get("to" if outbound else "from"))
        if mix_type == "stereo":
            customer = fields.customer_channel
            channel_map = {customer: Channel.CUSTOMER, 1 - customer: Channel.OPERATOR}
        else:
            channel_map = {0: Channel.CUSTOMER}
        self.mix_type = mix_type
        self.started = CallStart(
            call_id=call_id,
            operator_id=text_value(metadata.get("operator_id")) or "unknown",
            customer_id=text_value(metadata.get("customer_id")) or caller,
            language=language_from(metadata.get("language")),
            sample_rate=rate,
            encoding="pcm16",
            channels=2 if mix_type == "stereo" else 1,
            channel_map=dict(sorted(channel_map.items())),
            extra={"mix_type": mix_type, "direction": "outbound" if outbound else "inbound",
                   **{k: metadata[k] for k in ("callSid", "callId", "accountSid")
                      if isinstance(metadata.get(k), str)}},
        )
        return self.started

    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.started is None:
            raise ProtocolError(ErrorCode.AUDIO_BEFORE_START,
                                "audio frame before the metadata text frame")
        pcm = decode_audio(data, "pcm16", self.started.channels)
        if not len(pcm):
            return []
        t = self._frames / self.started.sample_rate
        self._frames += len(pcm)
        return [AudioChunk(pcm=pcm, t=t)]

    def alert_message(self, alert: AlertMessage) -> Reply | None:
        if self.started is None or self.stopped:
            return None
        return Reply.json({"type": "json", "data": {"type": "alert", **alert_fields(alert)}})

    def close(self, reason: str) -> list[Reply]:
        """``disconnect`` makes jambonz end the ``listen`` verb and close the socket."""
        if self.stopped:
            return []
        self.stopped = True
        return [Reply.json({"type": "disconnect"})]

