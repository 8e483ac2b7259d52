"""Raised voice: loudness and pitch against the speaker's own baseline."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_svc.analysis.prosody import SpeakerLoudness
from sentiment_svc.audio.decode import load_call
from sentiment_svc.audio.loudness import median_pitch_hz, speech_level_db
from sentiment_svc.frames import SAMPLE_RATE
from tests.conftest import ANGRY_CALL


def voiced(f0: float, seconds: float = 1.0, amplitude: float = 0.1) -> np.ndarray:
    """A harmonic 'voice' band-limited like a phone line (no energy below 300 Hz)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    harmonics = [k for k in range(1, 20) if 300 <= k * f0 <= 3400]
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in harmonics)
    return (amplitude * wave / np.abs(wave).max()).astype(np.float32)


@pytest.mark.parametrize("f0", [110.0, 180.0, 250.0])
def test_pitch_of_a_telephone_band_voice(f0):
    assert median_pitch_hz(voiced(f0)) == pytest.approx(f0, rel=0.05)


def test_no_pitch_in_noise_or_silence():
    noise = np.random.default_rng(0).normal(0, 0.05, SAMPLE_RATE).astype(np.float32)
    assert median_pitch_hz(noise) is None
    assert median_pitch_hz(np.zeros(SAMPLE_RATE, np.float32)) is None


def test_real_speech_has_a_plausible_pitch():
    pitch = median_pitch_hz(load_call(ANGRY_CALL).customer)
    assert pitch is not None and 70 <= pitch <= 400


def test_sustained_rise_counts_a_single_loud_utterance_does_not():
    speaker = SpeakerLoudness()
    for _ in range(3):
        assert not speaker.observe(-30.0, 120.0).raised_voice
    assert not speaker.observe(-22.0, 120.0).raised_voice  # one loud utterance
    assert not speaker.observe(-30.0, 120.0).raised_voice
    assert not speaker.observe(-22.0, 120.0).raised_voice
    assert speaker.observe(-23.0, 121.0).raised_voice  # the second in a row


def test_a_smaller_rise_counts_when_the_voice_is_also_pitched_up():
    speaker = SpeakerLoudness()
    for _ in range(3):
        speaker.observe(-30.0, 120.0)
    speaker.observe(-26.0, 150.0)
    assert speaker.observe(-26.5, 145.0).raised_voice
    calm = SpeakerLoudness()
    for _ in range(3):
        calm.observe(-30.0, 120.0)
    calm.observe(-26.0, 121.0)
    assert not calm.observe(-26.5, 119.0).raised_voice  # louder, same pitch: not enough


def test_level_of_real_speech():
    assert -40 < speech_level_db(load_call(ANGRY_CALL).customer) < 0
