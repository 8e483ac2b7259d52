"""The Asterisk adapters (chan_websocket, AudioSocket) through whole sessions of real call
audio, every refusal, and the way a connection ends.

Sessions come from tests/fixtures/protocols/asterisk_ws/ and .../audiosocket/, shaped like
Asterisk's documented messages; "$audio" entries stand for the Tinkoff sample call sent in
20 ms frames as Asterisk sends them (ulaw, slin16 or 8 kHz slin).
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import soundfile
import soxr

from sentiment_svc.frames import Channel
from sentiment_svc.protocols.asterisk_ws import AsteriskWsAdapter
from sentiment_svc.protocols.audiosocket import AudioSocketAdapter
from sentiment_svc.protocols.base import (
    CONNECTION_DROPPED,
    AudioChunk,
    CallStart,
    CallStop,
    Dtmf,
    ProtocolError,
)
from tests.conftest import ANGRY_CALL
from tests.protocol_sessions import (
    FRAME,
    TOO_BIG,
    alert,
    asterisk_ws_session,
    audiosocket_message,
    audiosocket_stream,
    chunks,
    fixture,
    frames,
    joined,
    libsndfile,
    run,
)

DOC_UUID = "854ede9a-27bb-4441-8328-b006de37414e"
PLAIN_START = ("MEDIA_START connection_id:sentiment channel:WebSocket/sentiment/0x51 "
               "channel_id:1761245643.1 format:ulaw optimal_frame_size:160 ptime:20")
LEG = {"call_id": "c-7", "speaker": "customer"}


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    pcm, rate = soundfile.read(ANGRY_CALL, dtype="int16")
    assert rate == 8000 and pcm.ndim == 1
    return pcm


def halves(raw: bytes, frame_bytes: int) -> dict[str, list[bytes]]:
    pieces = frames(raw, frame_bytes)
    half = len(pieces) // 2
    return {"first_half": pieces[:half], "second_half": pieces[half:], "all": pieces}


# -- chan_websocket -----------------------------------------------------------------------
def test_chan_websocket_plain_text_customer_leg(voice):
    raw, reference = libsndfile(voice, "ULAW")
    parameters, messages = asterisk_ws_session("plain_text_leg.json", halves(raw, FRAME))
    adapter = AsteriskWsAdapter(parameters={**parameters, "token": "never-read"})
    events, replies = run(adapter, messages)
    start = events[0]
    assert isinstance(start, CallStart) and replies == []
    assert (start.call_id, start.operator_id, start.customer_id, start.language) == (
        "1761245600.7", "op-0417", "+79165550142", "ru")
    assert (start.sample_rate, start.encoding, start.channels) == (8000, "mulaw", 1)
    assert start.leg is Channel.CUSTOMER
    assert start.tracks == (Channel.CUSTOMER, Channel.OPERATOR)  # the other leg will join
    assert start.extra["channel_id"] == "1761245643.1" and "token" not in adapter.parameters
    assert np.array_equal(joined(events, Channel.CUSTOMER), reference)
    assert not chunks(events, Channel.OPERATOR) and not chunks(events, None)
    times = [c.t for c in chunks(events, Channel.CUSTOMER)]
    assert times[:3] == [0.0, 0.02, 0.04] and times[-1] == pytest.approx((len(times) - 1) * 0.02)
    # XOFF/XON/STATUS/... concern media we would send: no pause, no event
    assert [e for e in events if not isinstance(e, AudioChunk)] == [start,
                                                                    Dtmf("5", Channel.CUSTOMER)]
    assert adapter.alert_message(alert()) is None
    assert adapter.connection_closed(1000) == [CallStop("hangup")]  # Asterisk hung up
    assert adapter.close("call ended") == []


def test_chan_websocket_json_operator_leg_named_by_channel_variables(voice):
    wide = soxr.resample(voice.astype(np.float32) / 32768, 8000, 16000)
    pcm = (np.clip(wide, -1, 1) * 32767).astype("<i2")
    parameters, messages = asterisk_ws_session("json_operator_leg.json",
                                               {"all": frames(pcm.tobytes(), 640)})
    adapter = AsteriskWsAdapter(parameters=parameters)
    events, _ = run(adapter, messages)
    start = events[0]
    assert (start.call_id, start.operator_id, start.customer_id, start.language) == (
        "1761245600.7", "op-0417", None, "uk")
    assert (start.sample_rate, start.encoding, start.leg) == (16000, "pcm16", Channel.OPERATOR)
    assert np.array_equal(joined(events, Channel.OPERATOR)[:, 0], pcm)
    assert chunks(events, Channel.OPERATOR)[1].t == pytest.approx(0.02)
    assert events[-1] == Dtmf("#", Channel.OPERATOR)
    # the service ends the session: HANGUP in the connection's own control format
    assert [json.loads(r.text) for r in adapter.close("idle")] == [{"command": "HANGUP"}]


def test_chan_websocket_uri_parameters_win_over_channel_variables():
    start = json.loads(json.dumps(fixture("asterisk_ws/json_operator_leg.json")["messages"][0]))
    adapter = AsteriskWsAdapter(parameters={"call_id": "from-uri", "speaker": "Customer"})
    event = adapter.receive_text(json.dumps(start))[0]
    assert (event.call_id, event.leg, event.operator_id) == ("from-uri", Channel.CUSTOMER,
                                                             "op-0417")


def test_chan_websocket_without_a_speaker_is_a_whole_call_heard_as_the_customer():
    adapter = AsteriskWsAdapter()
    start = adapter.receive_text(PLAIN_START)[0]
    assert (start.call_id, start.leg, start.tracks) == ("1761245643.1", None,
                                                        (Channel.CUSTOMER,))
    assert start.operator_id == "unknown" and start.language == "auto"
    chunk = adapter.receive_bytes(b"\xff" * 160)[0]
    assert chunk.channel is Channel.CUSTOMER and chunk.pcm.shape == (160, 1)
    assert adapter.close("server stopping")[0].text == "HANGUP"  # plain-text control


def test_chan_websocket_release_without_format_takes_it_from_the_uri():
    """The first releases' MEDIA_START had no format (the docs' first example)."""
    first_release = ("MEDIA_START connection_id:media1 channel:WebSocket/media1 "
                     "optimal_frame_size:320")
    start = AsteriskWsAdapter(parameters={"format": "slin"}).receive_text(first_release)[0]
    assert (start.encoding, start.sample_rate, start.call_id) == ("pcm16", 8000, "media1")


def test_chan_websocket_a_close_without_a_close_frame_is_a_drop():
    adapter = AsteriskWsAdapter(parameters=LEG)
    adapter.receive_text(PLAIN_START)
    adapter.receive_bytes(bytes(160))
    assert adapter.connection_closed(CONNECTION_DROPPED) == [
        CallStop("connection_dropped", dropped=True)]
    assert adapter.connection_closed(1000) == []  # only once
    lost = AsteriskWsAdapter(parameters=LEG)  # uvicorn's code for a connection lost
    lost.receive_text(PLAIN_START)
    assert lost.connection_closed(1005) == [CallStop("connection_dropped", dropped=True)]
    hung_up = AsteriskWsAdapter(parameters=LEG)  # closed with the hang-up cause's code
    hung_up.receive_text(PLAIN_START)
    assert hung_up.connection_closed(1001) == [CallStop("hangup")]
    silent = AsteriskWsAdapter()
    assert silent.connection_closed(1000) == []  # no call started: nothing to stop


# -- AudioSocket --------------------------------------------------------------------------
def audiosocket_session(voice: np.ndarray) -> tuple[bytes, np.ndarray]:
    pcm = voice.astype("<i2")
    return audiosocket_stream(fixture("audiosocket/dialplan_session.json")["messages"],
                              halves(pcm.tobytes(), FRAME * 2)), pcm


@pytest.mark.parametrize("segment", [1, 2, 3, 7, 320, 323, 4096, 16384])
def test_audiosocket_session_whatever_the_tcp_segments(voice, segment):
    wire, pcm = audiosocket_session(voice)
    adapter = AudioSocketAdapter()
    events, _ = run(adapter, [wire[i:i + segment] for i in range(0, len(wire), segment)])
    start = events[0]
    assert isinstance(start, CallStart) and start.call_id == DOC_UUID
    assert (start.sample_rate, start.encoding, start.leg, start.tracks) == (
        8000, "pcm16", None, (Channel.CUSTOMER,))
    assert start.operator_id == "unknown"
    # the key pressed before the first audio comes right after the start, in order
    assert events[1] == Dtmf("1", Channel.CUSTOMER)
    assert np.array_equal(joined(events, Channel.CUSTOMER)[:, 0], pcm)
    times = [c.t for c in chunks(events, Channel.CUSTOMER)]
    assert times[:2] == [0.0, 0.02] and times[-1] == pytest.approx((len(times) - 1) * 0.02)
    keys = [e for e in events if isinstance(e, Dtmf)]
    assert keys == [Dtmf("1", Channel.CUSTOMER), Dtmf("#", Channel.CUSTOMER)]
    assert events[-1] == CallStop("hangup") and adapter.stopped
    assert adapter.connection_closed(1000) == []


def test_audiosocket_16_khz_operator_leg():
    adapter = AudioSocketAdapter(leg=Channel.OPERATOR)
    tone = (np.sin(np.arange(320) / 5) * 8000).astype("<i2")
    wire = audiosocket_message(0x01, uuid.UUID(DOC_UUID).bytes) + audiosocket_message(
        0x12, tone.tobytes())
    events, _ = run(adapter, [wire])
    assert (events[0].sample_rate, events[0].leg) == (16000, Channel.OPERATOR)
    assert events[0].tracks == (Channel.CUSTOMER, Channel.OPERATOR)
    assert np.array_equal(joined(events, Channel.OPERATOR)[:, 0], tone)


def started_audiosocket() -> AudioSocketAdapter:
    adapter = AudioSocketAdapter()
    adapter.receive_bytes(audiosocket_message(0x01, uuid.UUID(DOC_UUID).bytes)
                          + audiosocket_message(0x10, bytes(320)))
    return adapter


@pytest.mark.parametrize("how,tail,close_code,expected", [
    ("orderly close between messages: Asterisk hung up", b"", 1000, CallStop("hangup")),
    ("reset connection", b"", CONNECTION_DROPPED, CallStop("connection_dropped", dropped=True)),
    ("close in the middle of a message", audiosocket_message(0x10, bytes(320))[:100], 1000,
     CallStop("connection_dropped", dropped=True)),
    ("error: the calling party hung up", audiosocket_message(0xFF, b"\x01"), None,
     CallStop("hangup")),
    ("error: frame forwarding", audiosocket_message(0xFF, b"\x02"), None,
     CallStop("asterisk_error_0x02", dropped=True)),
    ("error without a code", audiosocket_message(0xFF), None,
     CallStop("asterisk_error_0x00", dropped=True)),
])
def test_audiosocket_how_a_call_ends(how, tail, close_code, expected):
    adapter = started_audiosocket()
    events = adapter.receive_bytes(tail) if tail else []
    if close_code is not None:
        events += adapter.connection_closed(close_code)
    assert events == [expected], how


def test_audiosocket_close_sends_the_terminate_message_once():
    adapter = started_audiosocket()
    assert [r.data for r in adapter.close("idle")] == [b"\x00\x00\x00"]
    assert adapter.close("again") == [] and adapter.alert_message(alert()) is None


def test_audiosocket_hangup_before_any_audio_has_no_call():
    adapter = AudioSocketAdapter()
    wire = audiosocket_message(0x01, uuid.UUID(DOC_UUID).bytes) + audiosocket_message(0x00)
    assert adapter.receive_bytes(wire) == [] and adapter.stopped


# -- refusals -----------------------------------------------------------------------------
UUID_MESSAGE = audiosocket_message(0x01, uuid.UUID(DOC_UUID).bytes)
AUDIO = audiosocket_message(0x10, bytes(320))
ASTERISK_CASES = [  # id, adapter factory, prelude, bad input, code, close code
    ("ws-audio-first", lambda: AsteriskWsAdapter(), [], bytes(160), "audio_before_start", 1008),
    ("ws-dtmf-first", lambda: AsteriskWsAdapter(), [], "DTMF_END digit:1",
     "message_before_start", 1008),
    ("ws-second-start", lambda: AsteriskWsAdapter(), [PLAIN_START], PLAIN_START,
     "duplicate_start", 1008),
    ("ws-not-an-event", lambda: AsteriskWsAdapter(), [], "hello asterisk",
     "unknown_message_type", 1003),
    ("ws-empty-text", lambda: AsteriskWsAdapter(), [], "  ", "invalid_message", 1007),
    ("ws-invalid-json", lambda: AsteriskWsAdapter(), [], '{"event": "MEDIA_START",',
     "invalid_json", 1007),
    ("ws-json-no-event", lambda: AsteriskWsAdapter(), [], '{"connection_id": "x"}',
     "invalid_message", 1007),
    ("ws-no-connection-id", lambda: AsteriskWsAdapter(), [], "MEDIA_START format:ulaw",
     "bad_start", 4400),
    ("ws-frame-size-text", lambda: AsteriskWsAdapter(), [],
     PLAIN_START.replace(":160", ":lots"), "bad_start", 4400),
    ("ws-no-format", lambda: AsteriskWsAdapter(), [], "MEDIA_START connection_id:m1",
     "bad_start", 4400),
    ("ws-g722", lambda: AsteriskWsAdapter(), [], PLAIN_START.replace("ulaw", "g722"),
     "unsupported_encoding", 4400),
    ("ws-slin16-where-8k-only", lambda: AsteriskWsAdapter(sample_rates={8000}), [],
     PLAIN_START.replace("format:ulaw", "format:slin16"), "unsupported_sample_rate", 4400),
    ("ws-leg-without-call-id", lambda: AsteriskWsAdapter(parameters={"speaker": "operator"}),
     [], PLAIN_START, "bad_start", 4400),
    ("ws-unknown-speaker", lambda: AsteriskWsAdapter(parameters={**LEG, "speaker": "agent"}),
     [], PLAIN_START, "bad_start", 4400),
    ("ws-bad-digit", lambda: AsteriskWsAdapter(), [PLAIN_START], "DTMF_END digit:x",
     "invalid_message", 1007),
    ("ws-odd-slin", lambda: AsteriskWsAdapter(), [PLAIN_START.replace("ulaw", "slin")],
     bytes(321), "odd_length_pcm", 1007),
    ("ws-too-big", lambda: AsteriskWsAdapter(), [PLAIN_START], bytes(TOO_BIG),
     "message_too_big", 1009),
    ("ws-after-hangup", lambda: AsteriskWsAdapter(), [PLAIN_START, 1000], bytes(160),
     "message_after_stop", 1008),
    ("as-text", lambda: AudioSocketAdapter(), [], "hello", "unexpected_text", 1003),
    ("as-audio-first", lambda: AudioSocketAdapter(), [], AUDIO, "audio_before_start", 1008),
    ("as-dtmf-first", lambda: AudioSocketAdapter(), [], audiosocket_message(0x03, b"1"),
     "message_before_start", 1008),
    ("as-second-uuid", lambda: AudioSocketAdapter(), [UUID_MESSAGE], UUID_MESSAGE,
     "duplicate_start", 1008),
    ("as-short-uuid", lambda: AudioSocketAdapter(), [], audiosocket_message(0x01, b"abc"),
     "bad_start", 4400),
    ("as-unknown-kind", lambda: AudioSocketAdapter(), [UUID_MESSAGE],
     audiosocket_message(0x02, b"x"), "unknown_message_type", 1003),
    ("as-48-khz", lambda: AudioSocketAdapter(), [UUID_MESSAGE],
     audiosocket_message(0x16, bytes(1920)), "unsupported_sample_rate", 4400),
    ("as-rate-changes", lambda: AudioSocketAdapter(), [UUID_MESSAGE + AUDIO],
     audiosocket_message(0x12, bytes(640)), "unsupported_encoding", 4400),
    ("as-odd-audio", lambda: AudioSocketAdapter(), [UUID_MESSAGE],
     audiosocket_message(0x10, bytes(321)), "odd_length_pcm", 1007),
    ("as-bad-digit", lambda: AudioSocketAdapter(), [UUID_MESSAGE + AUDIO],
     audiosocket_message(0x03, b"12"), "invalid_message", 1007),
    ("as-keys-but-no-audio", lambda: AudioSocketAdapter(), [UUID_MESSAGE],
     audiosocket_message(0x03, b"5") * 33, "out_of_order", 1008),
    ("as-read-too-big", lambda: AudioSocketAdapter(), [UUID_MESSAGE], bytes(TOO_BIG),
     "message_too_big", 1009),
    ("as-after-hangup", lambda: AudioSocketAdapter(), [UUID_MESSAGE + AUDIO
                                                       + audiosocket_message(0x00)],
     AUDIO, "message_after_stop", 1008),
]


@pytest.mark.parametrize("factory,prelude,bad,code,close_code",
                         [pytest.param(*case[1:], id=case[0]) for case in ASTERISK_CASES])
def test_refusals(factory, prelude, bad, code, close_code):
    adapter = factory()
    for message in prelude:
        if isinstance(message, int):
            adapter.connection_closed(message)
        else:
            run(adapter, [message])
    with pytest.raises(ProtocolError) as raised:
        run(adapter, [bad])
    assert (raised.value.code, raised.value.close_code) == (code, close_code)
    assert raised.value.message and "\n" not in raised.value.message
    with pytest.raises(ProtocolError) as again:  # a failed session stays failed
        adapter.receive_bytes(b"\0\0")
    assert again.value is raised.value
    assert adapter.error_message(raised.value) is None  # neither protocol has one


def test_audio_accepted_before_a_refusal_is_kept():
    """A bad message in the middle of a TCP read: the good messages before it in the same
    read come with the error (`ProtocolError.accepted`), for the shell to act on first."""
    adapter = AudioSocketAdapter()
    good = adapter.receive_bytes(UUID_MESSAGE + AUDIO)
    assert [type(e) for e in good] == [CallStart, AudioChunk]
    with pytest.raises(ProtocolError) as raised:
        adapter.receive_bytes(AUDIO + audiosocket_message(0x03, b"5") + bytes([0x42, 0, 0]))
    assert raised.value.code == "unknown_message_type"
    assert [type(e) for e in raised.value.accepted] == [AudioChunk, Dtmf]
    assert raised.value.accepted[0].t == pytest.approx(0.02)
