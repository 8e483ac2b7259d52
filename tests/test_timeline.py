"""The call's timeline: audio laid out by the platform's clock, gaps as silence, overlaps
trimmed, pauses honoured; with the adapters that stamp the chunks, and fuzzed."""

from __future__ import annotations

import base64
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_svc.frames import Channel
from sentiment_svc.live.timeline import (
    JITTER_S,
    MAX_GAP_S,
    SILENCE_PIECE_S,
    Timeline,
)
from sentiment_svc.protocols.audiohook import AudioHookAdapter
from sentiment_svc.protocols.base import AudioChunk, CallStart, Pause, Resume
from sentiment_svc.protocols.native import NativeAdapter
from sentiment_svc.protocols.twilio import TwilioAdapter
from tests.protocol_sessions import (
    FRAME,
    TWILIO_STREAM,
    hook,
    hook_open,
    native_start,
    run,
    twilio_session,
)

RATE = 8000
CUSTOMER, OPERATOR = Channel.CUSTOMER, Channel.OPERATOR


def start(channels: int = 2) -> CallStart:
    return CallStart(call_id="c-1", operator_id="op-1", customer_id=None, language="ru",
                     sample_rate=RATE, encoding="pcm16", channels=channels,
                     channel_map={0: CUSTOMER, 1: OPERATOR} if channels == 2 else {0: CUSTOMER})


def tone(frames: int, value: int = 1000, columns: int = 1) -> np.ndarray:
    return np.full((frames, columns), value, np.int16)


def lay_out(timeline: Timeline, events, now: float = 0.0) -> dict:
    """Feed events; join the output per stream, checking that it is contiguous."""
    out: dict = {}
    base: dict = {}
    for event in events:
        ends = {key: timeline.end_s(key) for key in (CUSTOMER, OPERATOR, None)}
        for chunk in timeline.feed(event, now):
            base.setdefault(chunk.channel, ends[chunk.channel])
            joined = out.setdefault(chunk.channel, np.zeros((0, chunk.pcm.shape[1]), np.int16))
            assert chunk.t == pytest.approx(base[chunk.channel] + len(joined) / RATE)
            assert chunk.pcm.dtype == np.int16
            out[chunk.channel] = np.concatenate([joined, chunk.pcm])
    return out


def test_a_gap_on_one_twilio_track_is_silence_there_and_the_tracks_stay_aligned():
    """Twilio's documented sequence, with the inbound track losing 1 s of media."""
    inbound, outbound = b"\x10" * FRAME, b"\x90" * FRAME  # two constant μ-law levels
    messages = twilio_session([(inbound, outbound)] * 150)  # 3 s of both tracks
    lost = {str(ms) for ms in range(1000, 2000, 20)}
    messages = [m for m in messages if not (
        m.get("event") == "media" and m["media"]["track"] == "inbound"
        and m["media"]["timestamp"] in lost)]
    events, _ = run(TwilioAdapter(), messages)
    out = lay_out(Timeline(events[0]), events)
    customer, operator = out[CUSTOMER][:, 0], out[OPERATOR][:, 0]
    assert len(customer) == len(operator) == 3 * RATE
    assert np.all(customer[RATE:2 * RATE] == 0)
    assert np.all(customer[:RATE] != 0) and np.all(customer[2 * RATE:] != 0)
    assert np.all(operator != 0)


def test_a_gap_in_interleaved_audio_is_silence_on_both_columns():
    timeline = Timeline(start())
    first, second = AudioChunk(tone(800, columns=2), t=0.0), AudioChunk(tone(800, columns=2),
                                                                       t=0.5)
    out = lay_out(timeline, [first, second])[None]
    assert out.shape == (4800, 2)
    assert np.all(out[800:4000] == 0) and np.all(out[4000:] == 1000)
    assert (timeline.stats.gaps, timeline.stats.silence_s) == (1, 0.4)


def test_overlapping_audio_is_trimmed_not_placed_twice():
    timeline = Timeline(start(1))
    first = AudioChunk(tone(800, 1), CUSTOMER, 0.0)
    second = AudioChunk(np.arange(800, dtype=np.int16).reshape(-1, 1), CUSTOMER, 0.05)
    out = lay_out(timeline, [first, second, AudioChunk(tone(400, 3), CUSTOMER, 0.0)])[CUSTOMER]
    assert len(out) == 1200  # 0.15 s: the 50 ms overlap dropped, the stale chunk too
    assert np.array_equal(out[800:, 0], np.arange(400, 800))
    assert timeline.stats.trimmed_s == pytest.approx(0.05 + 0.05)


def test_jitter_is_ignored():
    timeline = Timeline(start(1))
    stamps = [0.0, 0.02 + 0.015, 0.04 - 0.01, 0.06 + JITTER_S]  # each within the tolerance
    out = lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, t) for t in stamps])[CUSTOMER]
    assert len(out) == 4 * 160 and np.all(out == 1000)
    assert timeline.stats.gaps == 0 and timeline.stats.trimmed_s == 0


def test_a_huge_timestamp_is_clamped_and_its_silence_made_piece_by_piece():
    timeline = Timeline(start(1))
    lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, 0.0)])
    pieces = timeline.feed(AudioChunk(tone(160), CUSTOMER, 1e12), 0.0)
    first = next(pieces)  # nothing is made before it is taken
    assert first.pcm.shape == (SILENCE_PIECE_S * RATE, 1) and not first.pcm.any()
    sizes = [len(first.pcm)] + [len(chunk.pcm) for chunk in pieces]
    assert max(sizes) <= SILENCE_PIECE_S * RATE
    assert sum(sizes) == MAX_GAP_S * RATE + 160 == timeline.end_s(CUSTOMER) * RATE - 160
    assert timeline.stats.clamped == 1
    # the platform's clock goes on from the bogus stamp: its next chunk follows it directly
    after = list(timeline.feed(AudioChunk(tone(160), CUSTOMER, 1e12 + 0.02), 0.0))
    assert [(c.t, len(c.pcm)) for c in after] == [(MAX_GAP_S + 0.04, 160)]
    # a stamp back on the old clock is a reset: placed where the stream ends, no new silence
    back = list(timeline.feed(AudioChunk(tone(160), CUSTOMER, 0.04), 0.0))
    assert [(c.t, len(c.pcm)) for c in back] == [(MAX_GAP_S + 0.06, 160)]
    assert timeline.stats.clock_resets == 1 and timeline.stats.clamped == 1


@pytest.mark.parametrize("t", [math.nan, -5.0, -math.inf])
def test_a_stamp_that_is_not_a_time_counts_as_zero(t):
    timeline = Timeline(start(1))
    out = lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, t), AudioChunk(tone(160), CUSTOMER,
                                                                            0.02)])
    assert len(out[CUSTOMER]) == 320


def test_a_pause_without_a_clock_is_silence_as_long_as_it_lasted():
    """The native protocol counts frames: the hold's wall-clock time is laid out."""
    adapter = NativeAdapter()
    timeline = Timeline(run(adapter, [native_start()])[0][0])
    second = tone(RATE, 1000, 2).astype("<i2").tobytes()
    out = lay_out(timeline, run(adapter, [second])[0], now=100.0)
    out = lay_out(timeline, run(adapter, [{"type": "pause"}, {"type": "pause"}])[0], now=101.0)
    assert out == {} and timeline.paused
    events = run(adapter, [{"type": "resume"}])[0]
    assert events == [Resume(clocked=False)]
    lay_out(timeline, events, now=104.5)  # 3.5 s on hold
    (silence, audio) = [*timeline.feed(run(adapter, [second])[0][0], 105.0)][-2:]
    assert audio.t == pytest.approx(1.0 + 3.5) and timeline.position_s == pytest.approx(5.5)
    assert timeline.stats.paused_s == pytest.approx(3.5)
    assert timeline.stats.silence_s == pytest.approx(3.5) and not silence.pcm.any()


def test_native_audio_while_paused_resumes_first():
    adapter = NativeAdapter()
    run(adapter, [native_start(), {"type": "pause"}])
    events, _ = run(adapter, [bytes(640), {"type": "resume"}])
    assert [type(e) for e in events] == [Resume, AudioChunk]


def test_a_pause_the_platform_clock_covers_adds_no_silence_of_its_own():
    """AudioHook reports the paused audio as discarded: the stamps place it, once."""
    adapter = AudioHookAdapter()
    timeline = Timeline(run(adapter, [hook_open()])[0][0])
    lay_out(timeline, run(adapter, [bytes(320)] * 50)[0], now=10.0)  # 1 s
    events = run(adapter, [hook("paused", 2)])[0]
    assert events == [Pause()]
    lay_out(timeline, events, now=11.0)
    events = run(adapter, [hook("resumed", 3, parameters={"start": "PT1S",
                                                          "discarded": "PT2S"})])[0]
    assert events == [Resume(clocked=True)]
    lay_out(timeline, events, now=16.0)  # 5 s by the wall clock; the platform says 2
    chunks = list(timeline.feed(run(adapter, [bytes(320)])[0][0], 16.0))
    assert chunks[-1].t == pytest.approx(3.0) and timeline.position_s == pytest.approx(3.02)
    assert timeline.stats.paused_s == 0 and timeline.stats.silence_s == pytest.approx(2.0)


def test_an_audiohook_pause_with_nothing_discarded_takes_the_wall_clock():
    adapter = AudioHookAdapter()
    timeline = Timeline(run(adapter, [hook_open()])[0][0])
    events = run(adapter, [bytes(320), hook("paused", 2), hook("resumed", 3)])[0]
    assert events[1:] == [Pause(), Resume(clocked=False)]
    lay_out(timeline, events[:2], now=0.0)
    lay_out(timeline, events[2:], now=4.0)
    chunks = list(timeline.feed(run(adapter, [bytes(320)])[0][0], 4.0))
    assert chunks[-1].t == pytest.approx(4.02)


def test_audio_during_a_pause_ends_it_without_pause_silence():
    timeline = Timeline(start(1))
    lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, 0.0), Pause()], now=0.0)
    lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, 0.02)], now=30.0)
    lay_out(timeline, [Resume()], now=60.0)  # not paused any more: nothing
    out = lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, 0.04)], now=61.0)
    assert out[CUSTOMER].shape == (160, 1) and timeline.position_s == pytest.approx(0.06)
    assert timeline.stats.audio_while_paused == 1 and timeline.stats.paused_s == 0


def test_a_pause_is_bounded_like_a_gap():
    timeline = Timeline(start(1))
    lay_out(timeline, [AudioChunk(tone(160), CUSTOMER, 0.0), Pause()], now=0.0)
    lay_out(timeline, [Resume()], now=1e9)
    sizes = [len(c.pcm) for c in timeline.feed(AudioChunk(tone(160), CUSTOMER, 0.02), 1e9)]
    assert sum(sizes) == MAX_GAP_S * RATE + 160 and timeline.stats.clamped == 1


def test_twilio_stamps_each_track_with_its_own_timestamp():
    adapter = TwilioAdapter()
    run(adapter, twilio_session()[:2])
    payload = base64.b64encode(b"\xff" * FRAME).decode()
    events, _ = run(adapter, [
        {"event": "media", "sequenceNumber": str(seq), "streamSid": TWILIO_STREAM,
         "media": {"track": track, "timestamp": stamp, "payload": payload}}
        for seq, (track, stamp) in enumerate([("inbound", "0"), ("outbound", "0"),
                                              ("inbound", "2020"), ("outbound", "20")], start=2)])
    assert [(e.channel, e.t) for e in events] == [(CUSTOMER, 0.0), (OPERATOR, 0.0),
                                                  (CUSTOMER, 2.02), (OPERATOR, 0.02)]


# --- fuzzed: whatever the stamps, sizes and pauses ------------------------------------------

STREAMS = [CUSTOMER, OPERATOR]
event_strategy = st.one_of(
    st.tuples(st.just("audio"), st.sampled_from(STREAMS),
              st.one_of(st.floats(-10, 400), st.floats(allow_nan=True),
                        st.sampled_from([0.0, 0.02, 1e300])),
              st.integers(1, 2000)),
    st.tuples(st.just("pause"), st.floats(0, 1e4)),
    st.tuples(st.just("resume"), st.booleans(), st.floats(0, 1e4)),
)


@settings(max_examples=400, deadline=None, database=None)
@given(events=st.lists(event_strategy, max_size=30))
def test_fuzzed_timelines_stay_contiguous_bounded_and_never_duplicate_audio(events):
    timeline = Timeline(start(1))
    laid = {key: 0 for key in STREAMS}
    audio_in = {key: 0 for key in STREAMS}
    audio_out = {key: 0 for key in STREAMS}
    now = 0.0
    for event in events:
        if event[0] == "pause":
            now += event[1]
            assert list(timeline.feed(Pause(), now)) == []
            continue
        if event[0] == "resume":
            now += event[2]
            assert list(timeline.feed(Resume(clocked=event[1]), now)) == []
            continue
        _, key, t, frames = event
        audio_in[key] += frames
        silence = 0
        for chunk in timeline.feed(AudioChunk(tone(frames, 7), key, t), now):
            assert chunk.channel == key and chunk.pcm.dtype == np.int16
            assert chunk.pcm.shape[1] == 1 and len(chunk.pcm) > 0  # never negative or empty
            assert chunk.t * RATE == pytest.approx(laid[key], abs=1e-6)  # contiguous
            if chunk.pcm.any():
                audio_out[key] += len(chunk.pcm)
            else:
                assert len(chunk.pcm) <= SILENCE_PIECE_S * RATE  # one piece at a time
                silence += len(chunk.pcm)
            laid[key] += len(chunk.pcm)
        assert silence <= MAX_GAP_S * RATE  # one gap (with a pause) inserts this at most
    for key in STREAMS:
        assert timeline.end_s(key) * RATE == pytest.approx(laid[key], abs=1e-6)
        assert audio_out[key] <= audio_in[key]  # trimmed maybe, never duplicated
    assert timeline.position_s * RATE == pytest.approx(max(laid.values()), abs=1e-6)


@settings(max_examples=300, deadline=None, database=None)
@given(frames=st.lists(st.tuples(st.integers(1, 1600), st.floats(-0.5, 3.0)), max_size=40))
def test_fuzzed_stamps_place_audio_where_the_clock_says(frames):
    """Sane stamps (a chunk's true place, moved back or ahead by up to 3 s): each piece of
    audio lands within the jitter tolerance of its stamp, or is trimmed; never elsewhere."""
    timeline = Timeline(start(1))
    clock = 0.0
    for size, move in frames:
        stamp = max(0.0, clock + move)
        clock = stamp + size / RATE
        placed = [c for c in timeline.feed(AudioChunk(tone(size, 7), CUSTOMER, stamp), 0.0)
                  if c.pcm.any()]
        if timeline.stats.clock_resets:
            break  # the stamps went back over MAX_OVERLAP_S: the stream went on where it ended
        for chunk in placed:
            trimmed = size - len(chunk.pcm)
            assert abs(chunk.t - (stamp + trimmed / RATE)) <= JITTER_S + 1 / RATE
    assert timeline.stats.clamped == 0


def test_silence_pieces_are_made_lazily():
    timeline = Timeline(start(1))
    pieces = timeline.feed(AudioChunk(tone(160), CUSTOMER, 200.0), 0.0)
    assert timeline.end_s(CUSTOMER) == pytest.approx(200.02)  # the state moved on already
    assert len(list(itertools.islice(pieces, 3))) == 3
