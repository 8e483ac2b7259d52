"""The client side of each ingest protocol, sans-I/O: a call's audio in, messages out.

Used by `sentiment-svc stream` (and the tests) to play a recorded call to the service the
way a telephony platform would: 20 ms frames, each message tagged with its audio time so
the caller can pace them in real time.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soxr

from sentiment_svc.audio.codecs import encode

FRAME_S = 0.02


@dataclass(frozen=True)
class ClientCall:
    call_id: str
    operator_id: str
    customer: np.ndarray  # float32 mono at `sample_rate`
    operator: np.ndarray | None
    sample_rate: int
    language: str = "auto"
    customer_id: str | None = None


@dataclass(frozen=True)
class Outgoing:
    at: float  # audio seconds from the call start at which to send it
    message: str | bytes


def prepare(call: ClientCall, rate: int) -> ClientCall:
    """Resample both channels to `rate` (telephony protocols carry 8 kHz)."""
    if call.sample_rate == rate:
        return call

    def convert(pcm: np.ndarray | None) -> np.ndarray | None:
        return None if pcm is None else soxr.resample(pcm, call.sample_rate, rate).astype(
            np.float32
        )

    customer = convert(call.customer)
    assert customer is not None
    return ClientCall(call.call_id, call.operator_id, customer, convert(call.operator), rate,
                      call.language, call.customer_id)


def _int16(pcm: np.ndarray) -> np.ndarray:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


def _frames(call: ClientCall) -> Iterator[tuple[float, np.ndarray]]:
    """(audio time, int16 frame (n, channels)) every 20 ms; channel 0 customer, 1 operator."""
    columns = [_int16(call.customer)]
    if call.operator is not None:
        operator = _int16(call.operator)
        operator = np.pad(operator, (0, max(0, len(columns[0]) - len(operator))))
        columns.append(operator[: len(columns[0])])
    pcm = np.stack(columns, axis=1)
    step = int(call.sample_rate * FRAME_S)
    for offset in range(0, len(pcm), step):
        yield offset / call.sample_rate, pcm[offset : offset + step]


def native_session(call: ClientCall, encoding: str = "pcm16") -> Iterator[Outgoing]:
    if call.sample_rate not in (8000, 16000):
        call = prepare(call, 16000)
    channels = 1 if call.operator is None else 2
    yield Outgoing(0.0, json.dumps({
        "type": "start", "call_id": call.call_id, "operator_id": call.operator_id,
        "customer_id": call.customer_id, "language": call.language,
        "sample_rate": call.sample_rate, "encoding": encoding, "channels": channels,
        "customer_channel": 0,
    }))
    end = 0.0
    for at, frame in _frames(call):
        end = at + FRAME_S
        yield Outgoing(at, encode(frame.reshape(-1), encoding))
    yield Outgoing(end, json.dumps({"type": "stop"}))


def twilio_session(call: ClientCall) -> Iterator[Outgoing]:
    call = prepare(call, 8000)
    stream_sid = "MZ" + uuid.uuid4().hex
    tracks = ["inbound"] if call.operator is None else ["inbound", "outbound"]
    yield Outgoing(0.0, json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    sequence = 1
    yield Outgoing(0.0, json.dumps({
        "event": "start", "sequenceNumber": str(sequence), "streamSid": stream_sid,
        "start": {
            "accountSid": "AC" + uuid.uuid4().hex, "streamSid": stream_sid,
            "callSid": "CA" + uuid.uuid4().hex, "tracks": tracks,
            "customParameters": {"call_id": call.call_id, "operator_id": call.operator_id,
                                 "language": call.language,
                                 **({"customer_id": call.customer_id} if call.customer_id else {})},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }))
    end = 0.0
    for chunk, (at, frame) in enumerate(_frames(call), start=1):
        end = at + FRAME_S
        for index, track in enumerate(tracks):
            sequence += 1
            yield Outgoing(at, json.dumps({
                "event": "media", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                "media": {"track": track, "chunk": str(chunk), "timestamp": str(int(at * 1000)),
                          "payload": base64.b64encode(encode(frame[:, index], "mulaw")).decode()},
            }))
    sequence += 1
    yield Outgoing(end, json.dumps({"event": "stop", "sequenceNumber": str(sequence),
                                    "streamSid": stream_sid, "stop": {}}))


def audiohook_session(call: ClientCall) -> Iterator[Outgoing]:
    """Genesys AudioHook v2: stereo PCMU, external (customer) left, internal right."""
    call = prepare(call, 8000)
    if call.operator is None:
        call = ClientCall(call.call_id, call.operator_id, call.customer,
                          np.zeros_like(call.customer), 8000, call.language, call.customer_id)
    session = str(uuid.uuid4())
    seq = 0

    def message(kind: str, at: float, parameters: dict) -> Outgoing:
        nonlocal seq
        seq += 1
        return Outgoing(at, json.dumps({
            "version": "2", "type": kind, "seq": seq, "serverseq": 0, "id": session,
            "position": f"PT{at:.3f}S", "parameters": parameters,
        }))

    language = {"ru": "ru-RU", "uk": "uk-UA"}.get(call.language)
    yield message("open", 0.0, {
        "organizationId": str(uuid.uuid4()), "conversationId": str(uuid.uuid4()),
        "participant": {"id": str(uuid.uuid4()), "ani": call.customer_id or "", "aniName": "",
                        "dnis": ""},
        "media": [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                   "rate": 8000}],
        **({"language": language} if language else {}),
        "customConfig": {"operator_id": call.operator_id, "call_id": call.call_id},
    })
    end = 0.0
    for at, frame in _frames(call):
        end = at + FRAME_S
        yield Outgoing(at, encode(frame.reshape(-1), "mulaw"))
    yield message("close", end, {"reason": "end"})


def audio_fork_session(call: ClientCall) -> Iterator[Outgoing]:
    """jambonz `listen` / mod_audio_fork: metadata JSON, then L16 little-endian frames."""
    call = prepare(call, 8000) if call.sample_rate not in (8000, 16000) else call
    yield Outgoing(0.0, json.dumps({
        "callSid": call.call_id, "from": "+380440000000", "to": "+380800000000",
        "sampleRate": call.sample_rate,
        "mixType": "mono" if call.operator is None else "stereo",
        "operator_id": call.operator_id, "language": call.language,
    }))
    for at, frame in _frames(call):
        yield Outgoing(at, frame.astype("<i2").tobytes())


SESSIONS = {
    "native": native_session,
    "twilio": twilio_session,
    "audiohook": audiohook_session,
    "audio_fork": audio_fork_session,
}
ENDPOINTS = {
    "native": "/v1/ingest",
    "twilio": "/v1/twilio",
    "audiohook": "/v1/audiohook",
    "audio_fork": "/v1/audio-fork",
}
