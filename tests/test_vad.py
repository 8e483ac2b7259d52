"""Streaming endpointing with Silero on real telephone prompts."""

import numpy as np
import pytest

from sentiment_svc.audio.decode import load_call
from sentiment_svc.frames import SAMPLE_RATE, Channel
from sentiment_svc.vad.silero import SpeechSegmenter, VadConfig
from tests.conftest import real_prompts

CHUNK = 320  # 20 ms, as telephony sends it


def prompt(index: int) -> np.ndarray:
    path, _ = real_prompts("ru")[index]
    return load_call(path).customer


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def stream(segmenter: SpeechSegmenter, audio: np.ndarray):
    """Feed 20 ms chunks; yield (position s, emitted segments, ending utterance)."""
    for at in range(0, len(audio), CHUNK):
        emitted = segmenter.feed(audio[at : at + CHUNK])
        yield segmenter.position, emitted, segmenter.ending_utterance()


def test_two_phrases_with_a_pause_are_two_utterances_with_padding():
    first, second = prompt(0), prompt(1)
    audio = np.concatenate([silence(0.5), first, silence(1.0), second, silence(1.0)])
    segmenter = SpeechSegmenter(Channel.CUSTOMER)
    segments = [s for _, emitted, _ in stream(segmenter, audio) for s in emitted]
    segments += segmenter.flush()
    assert len(segments) == 2
    assert segments[0].start < 0.5 + 0.3 and segments[0].end > 0.5 + len(first) / SAMPLE_RATE - 0.3
    assert all(len(s.pcm) == round((s.end - s.start) * SAMPLE_RATE) for s in segments)


def test_an_ending_utterance_is_known_before_the_vad_closes_it_and_is_the_same_audio():
    config = VadConfig()
    audio = np.concatenate([silence(0.3), prompt(2), silence(1.0)])
    segmenter = SpeechSegmenter(Channel.CUSTOMER, config)
    first_seen = None
    emitted_at = None
    for position, emitted, ending in stream(segmenter, audio):
        if ending is not None and first_seen is None:
            first_seen = (position, ending)
        if emitted:
            emitted_at, (segment,) = position, emitted
            break
    assert first_seen is not None and emitted_at is not None
    seen_at, early = first_seen
    # Known once the silence equals the end padding; closed after min_silence.
    saved = emitted_at - seen_at
    expected = (config.min_silence_ms - config.speech_pad_ms) / 1000
    assert abs(saved - expected) < 0.07
    assert (early.start, early.end) == (segment.start, segment.end)
    assert np.array_equal(early.pcm, segment.pcm)


def test_the_silence_inside_an_utterance_is_measured_until_the_vad_closes_it():
    config = VadConfig()
    audio = np.concatenate([silence(0.3), prompt(2), silence(1.0)])
    segmenter = SpeechSegmenter(Channel.CUSTOMER, config)
    at_first_ending, before_close, after_close = None, 0.0, None
    for _, emitted, ending in stream(segmenter, audio):
        if emitted:
            after_close = segmenter.silence_s
            break
        if ending is not None and at_first_ending is None:
            at_first_ending = segmenter.silence_s
        before_close = segmenter.silence_s
    # Known as ending once the silence equals the end padding; the VAD closes it after
    # min_silence; then no utterance is open and there is no silence inside one.
    assert at_first_ending == pytest.approx(config.speech_pad_ms / 1000, abs=0.04)
    assert before_close == pytest.approx(config.min_silence_ms / 1000, abs=0.04)
    assert after_close == 0.0


def test_speech_cut_off_by_the_end_of_the_call_keeps_its_last_samples():
    speech = prompt(3)
    pad = VadConfig().speech_pad_ms * SAMPLE_RATE // 1000
    cut = speech[: len(speech) - pad // 2 + 100]  # ends in the word, not a window multiple
    segmenter = SpeechSegmenter(Channel.CUSTOMER)
    assert [s for _, emitted, _ in stream(segmenter, cut) for s in emitted] == []
    assert segmenter.in_speech and segmenter.silence_s == 0.0  # cut off mid-speech
    (last,) = segmenter.flush()
    assert last.end == pytest.approx(len(cut) / SAMPLE_RATE)
    start = round(last.start * SAMPLE_RATE)
    assert np.array_equal(last.pcm, cut[start:])


def test_speech_that_resumes_withdraws_the_ending_utterance():
    (only,) = SpeechSegmenter(Channel.CUSTOMER).feed(np.concatenate([prompt(3), silence(1)]))
    pad = VadConfig().speech_pad_ms * SAMPLE_RATE // 1000
    speech = only.pcm[pad:-pad]  # the phrase without the prompt's own leading/trailing quiet
    audio = np.concatenate([speech, silence(0.3), speech, silence(1.0)])
    segmenter = SpeechSegmenter(Channel.CUSTOMER)
    endings, emitted_all = [], []
    for _, emitted, ending in stream(segmenter, audio):
        emitted_all.extend(emitted)
        if ending is not None and (not endings or endings[-1] != (ending.start, ending.end)):
            endings.append((ending.start, ending.end))
    # The short pause offered an ending that the second phrase withdrew; only the one
    # whole utterance was emitted, and it matches the last ending offered.
    assert len(emitted_all) == 1
    assert len(endings) >= 2
    assert endings[-1] == (emitted_all[0].start, emitted_all[0].end)


def test_digital_silence_is_judged_without_the_model_and_cuts_the_same_utterances():
    """A muted channel's zeros skip the model; the utterances come out as the model alone
    cuts them, give or take a window (32 ms) at their edges."""
    first, second = prompt(0), prompt(1)
    audio = np.concatenate([silence(2.0), first, silence(3.0), second, silence(2.0)])
    cut: dict[bool, list[tuple[float, float]]] = {}
    gated: dict[bool, int] = {}
    for gate in (True, False):
        config = VadConfig() if gate else VadConfig(silence_gate_dbfs=None)
        segmenter = SpeechSegmenter(Channel.CUSTOMER, config)
        segments = [s for _, emitted, _ in stream(segmenter, audio) for s in emitted]
        cut[gate] = [(s.start, s.end) for s in [*segments, *segmenter.flush()]]
        gated[gate] = segmenter.windows_gated
    assert len(cut[True]) == len(cut[False]) == 2
    for (start, end), (start_alone, end_alone) in zip(cut[True], cut[False], strict=True):
        assert abs(start - start_alone) <= 0.033 and abs(end - end_alone) <= 0.033
    assert gated[False] == 0
    # most of the 7 s of silence: all of it but what the utterances' tails keep open
    assert gated[True] * 512 / SAMPLE_RATE > 4.0


def test_quiet_line_noise_is_still_scored_by_the_model():
    """Noise above the gate (a live line's hiss) goes through the model, as it must: the
    gate is for digital silence, not for deciding what is speech."""
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(3 * SAMPLE_RATE) * 10 ** (-45 / 20)).astype(np.float32)
    segmenter = SpeechSegmenter(Channel.CUSTOMER)
    assert not [s for _, emitted, _ in stream(segmenter, hiss) for s in emitted]
    assert segmenter.windows_gated == 0
