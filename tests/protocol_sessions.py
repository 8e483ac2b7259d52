"""Building protocol sessions for the adapter tests: fixtures, audio frames, message makers.

The fixtures under tests/fixtures/protocols/ are message sequences shaped like each
protocol's documented examples; their "$audio" entries stand for the call audio.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.protocols.base import AudioChunk

FIXTURES = Path(__file__).parent / "fixtures" / "protocols"
FRAME = 160  # 20 ms at 8 kHz
TWILIO_STREAM = "MZ18ad3ab5a668481ce02b83e7395059f0"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def libsndfile(pcm: np.ndarray, subtype: str) -> tuple[bytes, np.ndarray]:
    """Encode with libsndfile; also its own decoding of those bytes, shape (frames, ch)."""
    channels = pcm.shape[1] if pcm.ndim == 2 else 1
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, 8000, format="RAW", subtype=subtype)
    raw = buffer.getvalue()
    decoded, _ = soundfile.read(io.BytesIO(raw), format="RAW", subtype=subtype, samplerate=8000,
                                channels=channels, dtype="int16", always_2d=True)
    return raw, decoded


def frames(raw: bytes, frame_bytes: int) -> list[bytes]:
    return [raw[i:i + frame_bytes] for i in range(0, len(raw), frame_bytes)]


def assert_g711_close(decoded: np.ndarray, source: np.ndarray) -> None:
    error = decoded.astype(float) - source
    assert np.all(np.abs(error) <= np.abs(source) / 32 + 16)
    assert 10 * np.log10((source.astype(float) ** 2).sum() / (error**2).sum()) > 35


def run(adapter, messages: list[Any]) -> tuple[list[Any], list[Any]]:
    """Feed dicts as JSON text and bytes as binary; collect events and replies."""
    events, replies = [], []
    for message in messages:
        if isinstance(message, bytes):
            events += adapter.receive_bytes(message)
        else:
            events += adapter.receive_text(message if isinstance(message, str)
                                           else json.dumps(message, ensure_ascii=False))
        replies += [json.loads(reply.text) for reply in adapter.replies()]
    return events, replies


def expand(messages: list[dict], audio: dict[str, list[bytes]]) -> list[Any]:
    out: list[Any] = []
    for message in messages:
        out += audio[message["$audio"]] if "$audio" in message else [message]
    return out


def chunks(events, channel=None) -> list[AudioChunk]:
    return [e for e in events if isinstance(e, AudioChunk) and e.channel == channel]


def joined(events, channel=None) -> np.ndarray:
    return np.concatenate([c.pcm for c in chunks(events, channel)])


def alert(**changes: Any) -> AlertMessage:
    """An alert as a call sends it to its protocol (stored: it has an id)."""
    fields = {"call_id": "c-1", "operator_id": "op-1", "alert_id": "a1b2c3d4e5f6", "t": 3.2,
              "action": "apology", "severity": "warning", "reason": "complaint",
              "evidence": ("верните деньги",), **changes}
    return AlertMessage(**fields)


def twilio_session(media_frames: Sequence[tuple[bytes, bytes]] = (),
                   name: str = "twilio/both_tracks.json") -> list[dict]:
    """The fixture with its media template filled per 20 ms frame and track, numbered."""
    session = fixture(name)["messages"]
    template = json.dumps(session[2]["$audio"])
    media = []
    for index, pair in enumerate(media_frames):
        for track, payload in zip(("inbound", "outbound"), pair, strict=True):
            media.append(json.loads(template.replace("$track", track)
                         .replace("$chunk", str(index + 1)).replace("$timestamp", str(index * 20))
                         .replace("$payload", base64.b64encode(payload).decode())))
    messages = session[:2] + media + session[3:]
    for number, message in enumerate(messages[1:], start=1):
        message["sequenceNumber"] = str(number)
    return messages


SID = "e160e428-53e2-487c-977d-96989bf5c99d"
TOO_BIG = 64 * 1024 + 2
CLOSE = object()  # in a prelude: the server closes the session


def native_start(**changes: Any) -> dict:
    start = {**fixture("native/stereo_pcm16.json")["messages"][0], **changes}
    return {key: value for key, value in start.items() if value is not None}


def twilio_start(seq: int = 1, **changes: Any) -> dict:
    start = twilio_session()[1]
    start["sequenceNumber"] = str(seq)
    start["start"] = {k: v for k, v in {**start["start"], **changes}.items() if v is not None}
    return start


def twilio_media(seq: int, track: str = "inbound", payload: str = "//8=", **extra: Any) -> dict:
    return {"event": "media", "sequenceNumber": str(seq), "streamSid": TWILIO_STREAM,
            "media": {"track": track, "chunk": "1", "timestamp": "0", "payload": payload}, **extra}


def hook(kind: str, seq: int, serverseq: int = 1, parameters: dict | None = None, **extra: Any
         ) -> dict:
    return {"version": "2", "type": kind, "seq": seq, "serverseq": serverseq, "id": SID,
            "position": "PT1.5S", "parameters": parameters or {}, **extra}


def hook_open(seq: int = 1, **changes: Any) -> dict:
    message = fixture("audiohook/stereo_session.json")["messages"][0]
    message["seq"] = seq
    params = {k: v for k, v in {**message["parameters"], **changes}.items() if v is not None}
    return {**message, "parameters": params}


def fork_meta(**changes: Any) -> dict:
    meta = {**fixture("audio_fork/jambonz_stereo.json")["messages"][0], **changes}
    return {key: value for key, value in meta.items() if value is not None}


# -- Asterisk: chan_websocket sessions and AudioSocket byte streams ---------------------------
def asterisk_ws_session(name: str, audio: dict[str, list[bytes]]) -> tuple[dict, list[Any]]:
    """A chan_websocket fixture: its URI parameters and its messages, audio filled in."""
    session = fixture(f"asterisk_ws/{name}")
    return session["parameters"], expand(session["messages"], audio)


def audiosocket_message(kind: int, payload: bytes = b"") -> bytes:
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


def audiosocket_stream(messages: list[dict], audio: dict[str, list[bytes]]) -> bytes:
    """An AudioSocket fixture as the bytes on the wire: '$audio' entries become one message
    of their kind per frame."""
    import uuid

    wire = bytearray()
    for message in messages:
        kind = message["kind"]
        if "$audio" in message:
            payloads = audio[message["$audio"]]
        elif "uuid" in message:
            payloads = [uuid.UUID(message["uuid"]).bytes]
        elif "digit" in message:
            payloads = [message["digit"].encode("ascii")]
        else:
            payloads = [bytes.fromhex(message.get("payload_hex", ""))]
        for payload in payloads:
            wire += audiosocket_message(kind, payload)
    return bytes(wire)
