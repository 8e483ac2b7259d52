"""Fuzzing the Asterisk adapters with hypothesis: chan_websocket messages and AudioSocket
byte streams.

chan_websocket: plain-text and JSON control messages built from the protocol's own event
names, keys and values, the documented messages with fields replaced or deleted or cut
short, random text and bytes, well-formed audio frames; after a random prefix of a valid
session, with random URI parameters. AudioSocket: streams of well-formed messages of every
kind (and unknown ones) with valid or random payloads, truncated messages and random
bytes, after a valid prefix, cut into TCP reads at random places.

Whatever arrives, an adapter returns typed events or raises `ProtocolError` (a known code
and close code, one line), never anything else and never slowly; once failed it stays
failed; and the audio of the valid prefix always comes out whole (in the events, or in the
error's `accepted` for a read that also held the bad bytes): bad input never costs the
call audio it had already accepted. Each adapter gets over 10,000 messages (the example
counts below times their messages).
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentiment_svc.frames import Channel
from sentiment_svc.live.timeline import Timeline
from sentiment_svc.protocols.asterisk_ws import AsteriskWsAdapter
from sentiment_svc.protocols.audiosocket import AUDIO_RATES, AudioSocketAdapter
from sentiment_svc.protocols.base import (
    CONNECTION_DROPPED,
    AudioChunk,
    CallStart,
    ProtocolAdapter,
    ProtocolError,
)
from tests.protocol_sessions import audiosocket_message, fixture
from tests.test_protocols_fuzz import (
    ALERT,
    CLOSE_CODES,
    CODES,
    check_laid_out,
    fuzz_settings,
    mutated,
)

# Examples per test. chan_websocket gets about 14,000 messages (1,500 x (2.5 prefix + 4.5
# fuzz) + 600 x 5 + 400 x 3); AudioSocket about 29,000 on the wire (2,600 x (2 prefix + 6.5
# fuzz) + 800 x 6 + random streams) in 14,000 TCP reads, of which over 10,000 are parsed
# (a stream's parsing ends at its first refused message). ~30 s on 2 cores.
PREFIX_EXAMPLES, MUTATED_EXAMPLES, RANDOM_EXAMPLES = 1500, 600, 400
AS_PREFIX_EXAMPLES, AS_MUTATED_EXAMPLES = 2600, 800
ULAW_FRAME = bytes(range(0, 256, 8)) * 5  # 160 bytes: 20 ms of ulaw
SLIN_FRAME = (np.sin(np.arange(160) / 3) * 9000).astype("<i2").tobytes()  # 20 ms, 8 kHz
CALL_UUID = uuid.UUID("854ede9a-27bb-4441-8328-b006de37414e")

# -- chan_websocket -----------------------------------------------------------------------
WS_EVENTS = ["MEDIA_START", "DTMF_END", "MEDIA_XOFF", "MEDIA_XON", "STATUS", "QUEUE_DRAINED",
             "MEDIA_BUFFERING_COMPLETED", "MEDIA_MARK_PROCESSED", "ERROR", "HANGUP",
             "NEW_EVENT_2027", "media_start", ""]
WS_KEYS = ["connection_id", "channel", "channel_id", "format", "optimal_frame_size", "ptime",
           "digit", "channel_variables", "event", "queue_length", "error_text"]
WS_VALUES = ["ulaw", "alaw", "slin", "slin16", "slin24", "g722", "opus", "160", "320", "20",
             "5", "#", "x", "media1", "WebSocket/media1/0x51", "1761245643.1", 160, 640, 0,
             -1]
PARAMETER_VALUES = {"call_id": ["c-1", "", "a/b", "\x07"], "speaker": ["customer", "operator",
                    "OPERATOR", "agent", ""], "format": ["ulaw", "slin16", "mp3"],
                    "language": ["ru", "uk-UA", "de"], "operator_id": ["op-1", ""]}
WS_PLAIN_START = ("MEDIA_START connection_id:media1 channel:WebSocket/media1/0x51 "
                  "channel_id:1761245643.1 format:ulaw optimal_frame_size:160 ptime:20")
WS_JSON_START = fixture("asterisk_ws/json_operator_leg.json")["messages"][0]
WS_JSON_ULAW = {**WS_JSON_START, "format": "ulaw", "optimal_frame_size": 160}
WS_SESSIONS = [
    [WS_PLAIN_START, ULAW_FRAME, "MEDIA_XOFF", "DTMF_END digit:5 channel_id:1.1", ULAW_FRAME],
    [json.dumps(WS_JSON_ULAW), ULAW_FRAME, json.dumps({"event": "DTMF_END", "digit": "9"}),
     ULAW_FRAME, json.dumps({"event": "MEDIA_XON", "channel_id": "1.1"})],
]
WS_VALID_JSON = [WS_JSON_ULAW, {"event": "DTMF_END", "channel_id": "1.1", "digit": "9"},
                 {"event": "STATUS", "queue_length": 43, "queue_full": False}]

ws_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                    st.sampled_from(WS_VALUES))
ws_value = st.one_of(ws_leaf, st.lists(ws_leaf, max_size=3),
                     st.dictionaries(st.sampled_from(WS_KEYS + ["SENTIMENT_CALL_ID",
                                                                "SENTIMENT_SPEAKER"]),
                                     ws_leaf, max_size=3))
ws_plain = st.builds(
    lambda event, pairs: " ".join([event, *(f"{k}:{v}" for k, v in pairs)]),
    st.sampled_from(WS_EVENTS),
    st.lists(st.tuples(st.sampled_from(WS_KEYS), st.one_of(st.sampled_from(WS_VALUES),
                                                           st.text(max_size=6))), max_size=6))
ws_json = st.builds(lambda event, rest: json.dumps({"event": event, **rest}),
                    st.sampled_from(WS_EVENTS), st.dictionaries(st.sampled_from(WS_KEYS),
                                                                ws_value, max_size=5))
ws_cut = st.sampled_from([WS_PLAIN_START, json.dumps(WS_JSON_ULAW)]).flatmap(
    lambda text: st.integers(0, len(text) - 1).map(lambda n: text[:n]))
ws_message = st.one_of(
    ws_plain, ws_json, mutated(WS_VALID_JSON, ws_value).map(json.dumps), ws_cut,
    st.text(max_size=200), st.binary(max_size=700),
    st.sampled_from([ULAW_FRAME, ULAW_FRAME[:80], ULAW_FRAME[:81], SLIN_FRAME, b""]))
ws_parameters = st.dictionaries(
    st.sampled_from(sorted(PARAMETER_VALUES)),
    st.sampled_from(sorted({v for values in PARAMETER_VALUES.values() for v in values})),
    max_size=4)


# -- AudioSocket --------------------------------------------------------------------------
AS_KINDS = [0x00, 0x01, 0x03, 0x10, 0x12, 0x16, 0xFF, 0x02, 0x11, 0x20, 0xFE]
AS_PREFIX = [audiosocket_message(0x01, CALL_UUID.bytes), audiosocket_message(0x03, b"4"),
             audiosocket_message(0x10, SLIN_FRAME * 2), audiosocket_message(0x10, SLIN_FRAME)]
AS_PREFIX_AUDIO = np.frombuffer(SLIN_FRAME * 3, dtype="<i2")

as_payload = st.one_of(st.binary(max_size=700), st.sampled_from(
    [b"", CALL_UUID.bytes, b"5", b"#", b"x", b"\x01", b"\x02", SLIN_FRAME, SLIN_FRAME[:7]]))
as_valid = st.sampled_from([audiosocket_message(0x10, SLIN_FRAME),
                            audiosocket_message(0x10, SLIN_FRAME * 3),
                            audiosocket_message(0x03, b"7"), audiosocket_message(0x00),
                            audiosocket_message(0xFF, b"\x01")])
as_message = st.one_of(
    as_valid, as_valid,  # twice as likely: calls get far enough to meet the others
    st.builds(audiosocket_message, st.sampled_from(AS_KINDS), as_payload),
    st.builds(lambda kind, payload, cut: audiosocket_message(kind, payload)[:cut],
              st.sampled_from(AS_KINDS), as_payload, st.integers(0, 40)),  # truncated
    st.binary(max_size=64))


# -- the checks ---------------------------------------------------------------------------
class Checked:
    """Feeds one adapter and checks every answer; collects the audio it gave out."""

    def __init__(self, adapter: ProtocolAdapter) -> None:
        self.adapter = adapter
        self.timeline: Timeline | None = None
        self.audio: list[np.ndarray] = []
        self.failed: ProtocolError | None = None

    def feed(self, message: str | bytes) -> None:
        if self.failed is not None:
            with pytest.raises(ProtocolError) as again:
                self._receive(message)
            assert again.value is self.failed
            return
        try:
            events = self._receive(message)
        except ProtocolError as error:
            assert error.code in CODES and error.close_code in CLOSE_CODES
            assert "\n" not in error.message and 0 < len(error.message) <= 300
            assert self.adapter.error_message(error) is None
            self.failed = error
            events = error.accepted
        self._check(events)

    def _receive(self, message: str | bytes) -> list[Any]:
        if isinstance(message, bytes):
            return self.adapter.receive_bytes(message)
        return self.adapter.receive_text(message)

    def _check(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, CallStart):
                assert self.timeline is None and event.sample_rate in self.adapter.sample_rates
                assert event.channels == 1 and set(event.tracks) >= {event.leg or
                                                                     Channel.CUSTOMER}
                self.timeline = Timeline(event)
                continue
            if isinstance(event, AudioChunk):
                assert self.timeline is not None, "audio before the call started"
                assert event.pcm.dtype == np.int16 and event.pcm.shape[1] == 1 and len(event.pcm)
                assert event.channel is (self.adapter.started.leg or Channel.CUSTOMER)
                self.audio.append(event.pcm[:, 0])
            if self.timeline is not None:
                check_laid_out(self.timeline, event)

    def finish(self, close_code: int) -> None:
        assert self.adapter.alert_message(ALERT) is None
        for reply in self.adapter.close("fuzz done"):
            text = reply.text if reply.text is not None else None
            assert text in ("HANGUP", '{"command":"HANGUP"}') or reply.data == b"\0\0\0"
        assert self.adapter.close("again") == []
        self.adapter.connection_closed(close_code)

    def audio_out(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, np.int16)


def run_ws(parameters: dict, messages: list[str | bytes], close_code: int) -> Checked:
    checked = Checked(AsteriskWsAdapter(parameters=parameters))
    for message in messages:
        checked.feed(message)
    checked.finish(close_code)
    return checked


def run_audiosocket(stream: bytes, cuts: list[int], leg: Channel | None, close_code: int
                    ) -> Checked:
    checked = Checked(AudioSocketAdapter(leg=leg))
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, end in zip(edges, edges[1:], strict=False):
        checked.feed(stream[start:end])
    checked.finish(close_code)
    return checked


def assert_prefix_audio_kept(checked: Checked, expected: np.ndarray) -> None:
    """The valid prefix's audio came out whole, whatever followed it."""
    out = checked.audio_out()
    assert len(out) >= len(expected) and np.array_equal(out[:len(expected)], expected)


def ws_prefix_audio(session: list[str | bytes], prefix: int, parameters: dict) -> np.ndarray:
    """What the first `prefix` messages of a valid session give, by the adapter itself."""
    reference = run_ws(parameters, session[:prefix], 1000)
    return reference.audio_out() if reference.failed is None else np.zeros(0, np.int16)


close_codes = st.sampled_from([1000, 1001, 1011, CONNECTION_DROPPED])


@fuzz_settings(PREFIX_EXAMPLES)
@given(data=st.data())
def test_chan_websocket_arbitrary_messages_after_a_valid_prefix(data):
    session = data.draw(st.sampled_from(WS_SESSIONS), label="session")
    parameters = data.draw(st.one_of(st.just({"call_id": "c-1", "speaker": "operator"}),
                                     ws_parameters), label="parameters")
    prefix = data.draw(st.integers(0, len(session)), label="prefix")
    fuzz = data.draw(st.lists(ws_message, min_size=1, max_size=8), label="fuzz")
    checked = run_ws(parameters, [*session[:prefix], *fuzz], data.draw(close_codes))
    assert_prefix_audio_kept(checked, ws_prefix_audio(session, prefix, parameters))


@fuzz_settings(MUTATED_EXAMPLES)
@given(data=st.data())
def test_chan_websocket_valid_session_with_one_message_mutated_or_cut(data):
    session = list(data.draw(st.sampled_from(WS_SESSIONS), label="session"))
    index = data.draw(st.integers(0, len(session) - 1), label="index")
    original = session[index]
    if isinstance(original, bytes):
        session[index] = data.draw(st.binary(max_size=700), label="replacement")
    elif original.startswith("{"):
        session[index] = data.draw(st.one_of(
            mutated([json.loads(original)], ws_value).map(json.dumps),
            st.integers(0, len(original) - 1).map(lambda n: original[:n])), label="replacement")
    else:
        session[index] = data.draw(st.one_of(
            ws_plain, st.integers(0, len(original) - 1).map(lambda n: original[:n])))
    parameters = {"call_id": "c-1", "speaker": "customer"}
    checked = run_ws(parameters, session, data.draw(close_codes))
    assert_prefix_audio_kept(checked, ws_prefix_audio(session, index, parameters))


@fuzz_settings(RANDOM_EXAMPLES)
@given(messages=st.lists(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)),
                         min_size=1, max_size=5), close_code=close_codes)
def test_chan_websocket_random_text_and_bytes_from_the_start(messages, close_code):
    checked = run_ws({}, messages, close_code)
    assert checked.adapter.started is None and checked.audio == []  # junk starts no call


@fuzz_settings(AS_PREFIX_EXAMPLES)
@given(data=st.data())
def test_audiosocket_arbitrary_messages_after_a_valid_prefix_in_any_reads(data):
    prefix = data.draw(st.integers(0, len(AS_PREFIX)), label="prefix")
    fuzz = data.draw(st.lists(as_message, min_size=1, max_size=12), label="fuzz")
    stream = b"".join([*AS_PREFIX[:prefix], *fuzz])
    cuts = data.draw(st.lists(st.integers(0, 1 << 16), max_size=10), label="cuts")
    leg = data.draw(st.sampled_from([None, Channel.CUSTOMER, Channel.OPERATOR]), label="leg")
    checked = run_audiosocket(stream, cuts, leg, data.draw(close_codes))
    frames = {0: 0, 1: 0, 2: 0, 3: 2 * 160, 4: 3 * 160}[prefix]
    assert_prefix_audio_kept(checked, AS_PREFIX_AUDIO[:frames])


@fuzz_settings(AS_MUTATED_EXAMPLES)
@given(data=st.data())
def test_audiosocket_valid_stream_with_one_message_mutated(data):
    messages = [*AS_PREFIX, audiosocket_message(0x10, SLIN_FRAME), audiosocket_message(0x00)]
    index = data.draw(st.integers(0, len(messages) - 1), label="index")
    original = bytearray(messages[index])
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    changed = copy.copy(original)
    changed[position] = data.draw(st.integers(0, 255), label="byte")
    messages[index] = bytes(changed)
    cuts = data.draw(st.lists(st.integers(0, 1 << 12), max_size=6), label="cuts")
    checked = run_audiosocket(b"".join(messages), cuts, None, data.draw(close_codes))
    before = [0, 0, 0, 2 * 160, 3 * 160, 4 * 160, 4 * 160][index]  # audio ahead of it
    assert_prefix_audio_kept(checked, np.frombuffer(SLIN_FRAME * 4, "<i2")[:before])


@fuzz_settings(RANDOM_EXAMPLES)
@given(stream=st.binary(max_size=4000), cuts=st.lists(st.integers(0, 4000), max_size=6),
       close_code=close_codes)
def test_audiosocket_random_bytes_from_the_start(stream, cuts, close_code):
    checked = run_audiosocket(stream, cuts, None, close_code)
    if checked.adapter.started is None:
        assert checked.audio == []
    else:  # random bytes that happen to hold a UUID message, then audio
        assert checked.adapter.started.sample_rate == AUDIO_RATES[checked.adapter.audio_kind]
