"""Asterisk AudioSocket: one call direction over raw TCP, Asterisk connecting to us.

Asterisk opens a TCP connection for the dialplan application ``AudioSocket(uuid,host:port)``,
the channel driver ``Dial(AudioSocket/host:port/uuid[/c(codec)])``, or ARI
``POST /channels/externalMedia?encapsulation=audiosocket&transport=tcp&data=<uuid>``. Every
message is a 3-byte header, a kind (1 byte) and a payload length (2 bytes, big-endian),
then the payload:

    0x00  hang-up / terminate (no payload)
    0x01  the stream's UUID: 16 bytes, binary; the first message
    0x03  a DTMF digit: 1 ASCII byte
    0x10  audio: signed linear 16-bit little-endian mono at 8 kHz (320 bytes per 20 ms)
    0x11-0x18  audio at 12, 16, 24, 32, 44.1, 48, 96, 192 kHz (newer releases)
    0xff  an error; an optional 1-byte, bit-packed Asterisk code: 0x01 the calling party
          hung up, 0x02 frame forwarding error, 0x04 memory (allocation) error

The adapter reads the connection as a byte stream (`receive_bytes` takes whatever TCP
delivered: messages may be split or joined anywhere) and keeps the unfinished tail. The
call starts at the first audio message, whose kind says the rate (8 and 16 kHz are taken);
key presses before it wait for it. The rate may not change within a call.

Ending: "socket closure is also sufficient" (the protocol definition), and Asterisk's own
application and channel driver close the socket on hang-up without sending 0x00. So a
hang-up message, an 0xff with only the calling-party-hung-up bit, or an orderly close
(FIN) at a message boundary ends the call as completed; a reset connection, a close in the
middle of a message, or another 0xff error ends it as dropped (interrupted). The service
ends a session with 0x00, which makes Asterisk hang up the AudioSocket channel or leave the
application: point AudioSocket at a spy/snoop channel, never at the caller's own.

Who the connection is: the UUID is the call id (its canonical text form). AudioSocket
carries nothing else, so the TCP shell says which speaker the connection is by the port it
arrived on (``SENTIMENT_AUDIOSOCKET_PORT``: customer, ``SENTIMENT_AUDIOSOCKET_OPERATOR_PORT``:
operator): with an operator port configured each connection is one leg of a two-leg call,
joined with the other leg of the same UUID (`live.legs`); without one, each connection is a
whole call heard as the customer. No operator id reaches the service ("unknown").

Sources: https://docs.asterisk.org/Configuration/Channel-Drivers/AudioSocket/
(github.com/asterisk/documentation), https://github.com/CyCoreSystems/audiosocket
(README: kinds 0x03 and 0x11-0x18, the error codes), Asterisk's res/res_audiosocket.c,
apps/app_audiosocket.c, channels/chan_audiosocket.c and include/asterisk/res_audiosocket.h
(github.com/asterisk/asterisk), and the ARI externalMedia reference
(https://docs.asterisk.org/Development/Reference-Information/
Asterisk-Framework-and-API-Examples/External-Media-and-ARI/).
"""

from __future__ import annotations

import struct
import uuid
from enum import IntEnum, StrEnum
from typing import Any

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.base import (
    CONNECTION_DROPPED,
    AudioChunk,
    CallStart,
    CallStop,
    Dtmf,
    ErrorCode,
    ProtocolAdapter,
    ProtocolError,
    ProtocolEvent,
    Reply,
    decode_audio,
)

HEADER = struct.Struct(">BH")  # kind, payload length
UUID_BYTES = 16
DTMF_DIGITS = frozenset(b"0123456789*#ABCD")
MAX_EARLY_DTMF = 32  # key presses kept while waiting for the first audio
CALLER_HUNG_UP = 0x01  # the Asterisk error code that is an ordinary hang-up


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


AUDIO_RATES = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100,
               0x16: 48000, 0x17: 96000, 0x18: 192000}


class State(StrEnum):
    AWAITING_UUID = "awaiting_uuid"
    IDENTIFIED = "identified"  # the UUID came; waiting for the first audio
    STREAMING = "streaming"
    ENDED = "ended"


def message(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket message: header and payload."""
    return HEADER.pack(kind, len(payload)) + payload


class AudioSocketAdapter(ProtocolAdapter):
    name = "audiosocket"
    ends_by_closing = True

    def __init__(self, *, leg: Channel | None = None, **limits: Any) -> None:
        """``leg``: the speaker this connection carries, one of two legs of a call (from the
        port it arrived on); None: the connection is the whole call, heard as the customer."""
        super().__init__(**limits)
        self.leg = leg
        self.speaker = leg or Channel.CUSTOMER
        self.state = State.AWAITING_UUID
        self.call_id: str | None = None
        self.audio_kind: int | None = None
        self._buffer = bytearray()
        self._early_dtmf: list[Dtmf] = []
        self._frames = 0

    def _on_text(self, text: str) -> list[ProtocolEvent]:
        raise ProtocolError(ErrorCode.UNEXPECTED_TEXT, "AudioSocket is a binary stream")

    def _on_bytes(self, data: bytes) -> list[ProtocolEvent]:
        self._buffer += data
        events: list[ProtocolEvent] = []
        offset = 0
        while not self.stopped and len(self._buffer) - offset >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer, offset)
            end = offset + HEADER.size + length
            if end > len(self._buffer):
                break  # the rest of this message is still on its way
            payload = bytes(self._buffer[offset + HEADER.size:end])
            offset = end
            try:
                events += self._message(kind, payload)
            except ProtocolError as error:
                error.accepted = events  # the good messages before it still count
                raise
        del self._buffer[:offset]
        if self.stopped:
            self._buffer.clear()  # Asterisk sends nothing after the end; keep nothing
        return events

    def _message(self, kind: int, payload: bytes) -> list[ProtocolEvent]:
        if kind == Kind.UUID:
            return self._identify(payload)
        if kind == Kind.HANGUP:
            return self._end("hangup", dropped=False)
        if kind == Kind.ERROR:
            code = payload[0] if payload else 0
            hung_up = code == CALLER_HUNG_UP
            return self._end("hangup" if hung_up else f"asterisk_error_0x{code:02x}",
                             dropped=not hung_up)
        if kind not in AUDIO_RATES and kind != Kind.DTMF:
            raise ProtocolError(ErrorCode.UNKNOWN_MESSAGE_TYPE,
                                f"unknown AudioSocket message kind 0x{kind:02x}")
        if self.call_id is None:
            code = ErrorCode.AUDIO_BEFORE_START if kind in AUDIO_RATES \
                else ErrorCode.MESSAGE_BEFORE_START
            raise ProtocolError(code, f"message kind 0x{kind:02x} before the UUID")
        if kind == Kind.DTMF:
            return self._dtmf(payload)
        return self._audio(kind, payload)

    def _identify(self, payload: bytes) -> list[ProtocolEvent]:
        if self.call_id is not None:
            raise ProtocolError(ErrorCode.DUPLICATE_START, "a second UUID message")
        if len(payload) != UUID_BYTES:
            raise ProtocolError(ErrorCode.BAD_START,
                                f"UUID payload of {len(payload)} bytes, not {UUID_BYTES}")
        self.call_id = str(uuid.UUID(bytes=payload))
        self.state = State.IDENTIFIED
        return []

    def _dtmf(self, payload: bytes) -> list[ProtocolEvent]:
        if len(payload) != 1 or payload[0] not in DTMF_DIGITS:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE,
                                f"DTMF payload {payload[:8]!r} is not one digit 0-9 * # A-D")
        key = Dtmf(chr(payload[0]), self.speaker)
        if self.started is not None:
            return [key]
        if len(self._early_dtmf) >= MAX_EARLY_DTMF:
            raise ProtocolError(ErrorCode.OUT_OF_ORDER,
                                f"over {MAX_EARLY_DTMF} key presses before any audio")
        self._early_dtmf.append(key)
        return []

    def _audio(self, kind: int, payload: bytes) -> list[ProtocolEvent]:
        events: list[ProtocolEvent] = []
        if self.started is None:
            self._check_sample_rate(AUDIO_RATES[kind])
            events += [self._start(kind), *self._early_dtmf]
            self._early_dtmf.clear()
        elif kind != self.audio_kind:
            raise ProtocolError(ErrorCode.UNSUPPORTED_ENCODING, f"audio kind 0x{kind:02x} "
                                f"after 0x{self.audio_kind:02x}: the rate changed mid-call")
        pcm = decode_audio(payload, "pcm16", 1)
        if len(pcm):
            rate = AUDIO_RATES[kind]
            events.append(AudioChunk(pcm=pcm, channel=self.speaker, t=self._frames / rate))
            self._frames += len(pcm)
        return events

    def _start(self, kind: int) -> CallStart:
        assert self.call_id is not None
        self.audio_kind = kind
        self.state = State.STREAMING
        self.started = CallStart(
            call_id=self.call_id, operator_id="unknown", customer_id=None, language="auto",
            sample_rate=AUDIO_RATES[kind], encoding="pcm16", channels=1,
            channel_map={0: self.speaker}, extra={"uuid": self.call_id, "kind": kind},
            tracks=(Channel.CUSTOMER, Channel.OPERATOR) if self.leg else (Channel.CUSTOMER,),
            leg=self.leg,
        )
        return self.started

    def _end(self, reason: str, *, dropped: bool) -> list[ProtocolEvent]:
        self.stopped = True
        self.state = State.ENDED
        return [CallStop(reason, dropped=dropped)] if self.started is not None else []

    def connection_closed(self, close_code: int | None = None) -> list[ProtocolEvent]:
        """An orderly close between messages is Asterisk's hang-up; a reset, or a close in
        the middle of a message, is a drop."""
        if self.stopped:
            return []
        dropped = close_code == CONNECTION_DROPPED or bool(self._buffer)
        self._buffer.clear()
        return self._end("connection_dropped" if dropped else "hangup", dropped=dropped)

    def alert_message(self, alert: AlertMessage) -> Reply | None:
        return None  # AudioSocket carries audio and DTMF only

    def close(self, reason: str) -> list[Reply]:
        """The terminate message; Asterisk then hangs up the AudioSocket channel."""
        if self.stopped:
            return []
        self.stopped = True
        self.state = State.ENDED
        return [Reply(data=message(Kind.HANGUP))]
