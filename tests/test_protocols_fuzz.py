"""Fuzzing the protocol adapters and codecs with hypothesis.

For every adapter: arbitrary sequences of text and binary messages (JSON built from the
protocol's own keys and values, valid messages with fields replaced or deleted, valid
messages cut short, random text, random bytes, well-formed audio frames), after a random
prefix of a valid session. Whatever arrives, an adapter returns typed events or raises
`ProtocolError`, never anything else, and never takes long (hypothesis' deadline). The
example counts add up to tens of thousands of inputs while the file stays under a minute.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment_svc.audio.codecs import (
    ALAW_DECODE,
    ULAW_DECODE,
    CodecError,
    Encoding,
    decode,
    encode,
)
from sentiment_svc.live.timeline import Timeline
from sentiment_svc.protocols.audio_fork import AudioForkAdapter
from sentiment_svc.protocols.audiohook import AudioHookAdapter
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    ErrorCode,
    ProtocolAdapter,
    ProtocolError,
    Reply,
)
from sentiment_svc.protocols.native import NativeAdapter
from sentiment_svc.protocols.twilio import TwilioAdapter
from tests.protocol_sessions import alert, fixture, hook_open, twilio_session

# Examples per adapter (x4 adapters); each feeds the adapter several messages. In all about
# 9,000 examples and 34,000 inputs (31,000 messages + 3,000 codec payloads): ~25-30 s on 2 cores.
PREFIX_EXAMPLES, MUTATED_EXAMPLES, RANDOM_EXAMPLES = 700, 500, 300
CODEC_EXAMPLES = 1000  # per codec test; 3 tests
DEADLINE = timedelta(milliseconds=750)  # "never hangs": no single example may take longer


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=DEADLINE, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


CODES = {code.value for code in ErrorCode}
CLOSE_CODES = {1003, 1007, 1008, 1009, 4400}
ALERT = alert(t=1.0, reason="r", evidence=())
FRAME = bytes(range(0, 256, 8)) * 10  # 320 bytes of varied audio, 20 ms of PCMU stereo


class Protocol:
    """What the fuzzer knows about one protocol: its vocabulary and a valid session."""

    def __init__(self, adapter: type[ProtocolAdapter], keys: list[str], values: list[Any],
                 session: list[Any]) -> None:
        self.adapter, self.keys, self.values, self.session = adapter, keys, values, session
        self.valid_json = [m for m in session if isinstance(m, dict)]


def _native() -> Protocol:
    session = fixture("native/stereo_pcm16.json")["messages"]
    return Protocol(
        NativeAdapter,
        ["type", "call_id", "operator_id", "customer_id", "language", "sample_rate", "encoding",
         "channels", "customer_channel", "reason"],
        ["start", "stop", "pause", "resume", "ru", "uk", "auto", 8000, 16000, "pcm16", "mulaw",
         "alaw", 1, 2, 0],
        [session[0], FRAME, {"type": "pause"}, FRAME[:160], {"type": "resume"}, session[2]])


def _twilio() -> Protocol:
    session = twilio_session([(FRAME[:160], FRAME[160:])] * 2)
    return Protocol(
        TwilioAdapter,
        ["event", "sequenceNumber", "streamSid", "start", "media", "dtmf", "mark", "stop",
         "accountSid", "callSid", "tracks", "customParameters", "mediaFormat", "encoding",
         "sampleRate", "channels", "track", "chunk", "timestamp", "payload", "digit", "name"],
        ["connected", "start", "media", "dtmf", "mark", "stop", "inbound", "outbound",
         "audio/x-mulaw", 8000, 1, "MZ18ad3ab5a668481ce02b83e7395059f0", "2", "//8=", "1"],
        session)


def _audiohook() -> Protocol:
    session = fixture("audiohook/stereo_session.json")["messages"]
    session = [hook_open()] + session[1:2] + [FRAME, FRAME[:100]] + session[3:5] + [FRAME] \
        + session[6:]
    return Protocol(
        AudioHookAdapter,
        ["type", "version", "id", "seq", "serverseq", "position", "parameters", "organizationId",
         "conversationId", "participant", "media", "format", "channels", "rate", "language",
         "customConfig", "reason", "start", "discarded", "rtt", "ani"],
        ["2", "open", "ping", "close", "paused", "resumed", "update", "discarded", "error",
         "PCMU", "external", "internal", 8000, "PT0S", "PT1.5S", 1, 2,
         "e160e428-53e2-487c-977d-96989bf5c99d", "00000000-0000-0000-0000-000000000000"],
        session)


def _audio_fork() -> Protocol:
    session = fixture("audio_fork/jambonz_stereo.json")["messages"]
    return Protocol(
        AudioForkAdapter,
        ["sampleRate", "mixType", "callSid", "callId", "direction", "from", "to", "operator_id",
         "customer_id", "language", "customer_channel", "event", "dtmf", "type"],
        [8000, 16000, "mono", "mixed", "stereo", "inbound", "outbound", "dtmf", "5", 0, 1],
        [session[0], FRAME, FRAME[:4], session[2], session[3], FRAME])


PROTOCOLS = {"native": _native(), "twilio": _twilio(), "audiohook": _audiohook(),
             "audio_fork": _audio_fork()}


class Strategies:
    """One protocol's message strategies, built once: hypothesis pays per draw, not per build."""

    def __init__(self, protocol: Protocol) -> None:
        keys = st.sampled_from(protocol.keys)
        leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                           st.text(max_size=8), st.sampled_from(protocol.values))
        self.value = st.one_of(leaves, st.lists(leaves, max_size=3),
                               st.dictionaries(keys, leaves, max_size=3))
        shaped = st.builds(lambda kind, rest: {protocol.keys[0]: kind, **rest},
                           st.sampled_from(protocol.values),
                           st.dictionaries(keys, self.value, max_size=5))
        texts = [json.dumps(m) for m in protocol.valid_json]
        self.cut = st.sampled_from(texts).flatmap(
            lambda text: st.integers(0, len(text) - 1).map(lambda n: text[:n]))
        self.mutated = mutated(protocol.valid_json, self.value)
        self.message = st.one_of(shaped, self.mutated, self.cut, st.text(max_size=200),
                                 st.binary(max_size=700),
                                 st.sampled_from([FRAME, FRAME[:160], FRAME[:161], b""]))


def paths(value: Any, trail: tuple = ()) -> list[tuple]:
    found = [trail] if trail else []
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            found += paths(child, (*trail, key))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: list[dict], values: st.SearchStrategy[Any]) -> dict:
    """A valid message with one to three fields, at any depth, replaced or deleted."""
    message = copy.deepcopy(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(message)
        if not candidates:
            break
        *parents, key = draw(st.sampled_from(candidates))
        container = message
        for part in parents:
            container = container[part]
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(values)
    return message


STRATEGIES = {name: Strategies(protocol) for name, protocol in PROTOCOLS.items()}


def fix_sequence(adapter: ProtocolAdapter, message: dict) -> dict:
    """Give a drawn message the sequence numbers the session expects, to get past them."""
    if isinstance(adapter, AudioHookAdapter):
        return {**message, "seq": adapter.clientseq + 1, "serverseq": adapter.seq}
    if isinstance(adapter, TwilioAdapter) and "sequenceNumber" in message:
        return {**message, "sequenceNumber": str(adapter._last_sequence + 1)}
    return message


def feed(adapter: ProtocolAdapter, message: Any) -> list[Any]:
    if isinstance(message, bytes):
        return adapter.receive_bytes(message)
    if isinstance(message, dict):
        message = json.dumps(message)
    return adapter.receive_text(message)


def check_session(protocol: Protocol, prefix: int, fuzz: list[Any], fix: list[bool]) -> None:
    """Also lays the events out on a `Timeline`: whatever the stamps, each stream's audio
    comes out contiguous and in the call's shape."""
    adapter = protocol.adapter()
    timeline: Timeline | None = None
    for message in [*protocol.session[:prefix], *fuzz]:
        if isinstance(message, dict) and fix and fix.pop():
            message = fix_sequence(adapter, message)
        try:
            events = feed(adapter, message)
        except ProtocolError as error:
            assert error.code in CODES and error.close_code in CLOSE_CODES
            assert "\n" not in error.message and len(error.message) <= 300
            reply = adapter.error_message(error)
            assert reply is None or isinstance(json.loads(reply.text), dict)
            with pytest.raises(ProtocolError):
                feed(adapter, b"\0\0")
            break
        for event in events:
            if isinstance(event, AudioChunk):
                assert event.pcm.dtype == np.int16 and event.pcm.ndim == 2 and len(event.pcm)
            if isinstance(event, CallStart):
                assert event.sample_rate in adapter.sample_rates
                timeline = Timeline(event)
            elif timeline is not None:
                check_laid_out(timeline, event)
        for reply in adapter.replies():
            assert isinstance(reply, Reply) and isinstance(json.loads(reply.text), dict)
    alert = adapter.alert_message(ALERT)
    assert alert is None or isinstance(json.loads(alert.text), dict)
    for reply in adapter.close("fuzz done"):
        assert isinstance(json.loads(reply.text), dict)
    adapter.connection_closed()


def check_laid_out(timeline: Timeline, event: Any) -> None:
    key = event.channel if isinstance(event, AudioChunk) else None
    end = timeline.end_s(key)
    for chunk in timeline.feed(event, 0.0):
        assert chunk.channel == key and chunk.pcm.dtype == np.int16
        assert chunk.pcm.shape[1] == event.pcm.shape[1] and len(chunk.pcm)
        assert chunk.t == pytest.approx(end)
        end += len(chunk.pcm) / timeline.rate
    assert timeline.end_s(key) == pytest.approx(end)


@pytest.mark.parametrize("name", PROTOCOLS)
@fuzz_settings(PREFIX_EXAMPLES)
@given(data=st.data())
def test_arbitrary_messages_after_a_valid_prefix(name, data):
    protocol = PROTOCOLS[name]
    prefix = data.draw(st.integers(0, len(protocol.session)), label="prefix")
    fuzz = data.draw(st.lists(STRATEGIES[name].message, min_size=1, max_size=6), label="fuzz")
    fix = data.draw(st.lists(st.booleans(), max_size=6), label="fix sequence numbers")
    check_session(protocol, prefix, fuzz, fix)


@pytest.mark.parametrize("name", PROTOCOLS)
@fuzz_settings(MUTATED_EXAMPLES)
@given(data=st.data())
def test_the_valid_session_with_one_message_mutated_or_cut(name, data):
    protocol = PROTOCOLS[name]
    session = list(protocol.session)
    index = data.draw(st.integers(0, len(session) - 1), label="index")
    if isinstance(session[index], dict):
        text = json.dumps(session[index])
        session[index] = data.draw(st.one_of(
            mutated([session[index]], STRATEGIES[name].value),
            st.integers(0, len(text) - 1).map(lambda n: text[:n])), label="replacement")
    else:
        session[index] = data.draw(st.binary(max_size=700), label="replacement")
    check_session(protocol, len(session), [], [])


@pytest.mark.parametrize("name", PROTOCOLS)
@fuzz_settings(RANDOM_EXAMPLES)
@given(data=st.data())
def test_random_bytes_and_text_from_the_start(name, data):
    protocol = PROTOCOLS[name]
    fuzz = data.draw(st.lists(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)),
                              min_size=1, max_size=5))
    check_session(protocol, 0, fuzz, [])


CODEC = settings(max_examples=CODEC_EXAMPLES, deadline=timedelta(milliseconds=500),
                 database=None)


@CODEC
@given(payload=st.binary(max_size=1000), encoding=st.sampled_from(list(Encoding)),
       channels=st.integers(-2, 10))
def test_decode_returns_frames_or_codec_error(payload, encoding, channels):
    try:
        pcm = decode(payload, encoding, channels)
    except CodecError as error:
        assert str(error) and "\n" not in str(error)
        return
    width = 2 if encoding in (Encoding.PCM16, Encoding.PCM16_BE) else 1
    assert pcm.dtype == np.int16 and pcm.shape == (len(payload) // width // channels, channels)
    assert encode(pcm, encoding) == payload or encoding in (Encoding.MULAW,)


@CODEC
@given(samples=st.lists(st.integers(-32768, 32767), max_size=400),
       encoding=st.sampled_from([Encoding.MULAW, Encoding.ALAW]))
def test_g711_round_trip_stays_within_half_a_step(samples, encoding):
    pcm = np.array(samples, dtype=np.int16)
    decoded = decode(encode(pcm, encoding), encoding, 1)[:, 0].astype(int)
    peak = 32124 if encoding is Encoding.MULAW else 32256
    clipped = np.clip(pcm.astype(int), -peak, peak)
    assert np.all(np.abs(decoded - clipped) <= np.abs(clipped) / 16 + 16)


@CODEC
@given(codes=st.binary(max_size=500))
def test_every_g711_code_decodes_to_its_table_value(codes):
    raw = np.frombuffer(codes, dtype=np.uint8)
    assert np.array_equal(decode(codes, "mulaw", 1)[:, 0], ULAW_DECODE[raw])
    assert np.array_equal(decode(codes, "alaw", 1)[:, 0], ALAW_DECODE[raw])
    assert encode(decode(codes, "alaw", 1), "alaw") == codes  # A-law has no duplicate codes
