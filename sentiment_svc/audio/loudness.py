"""Loudness (dB relative to full scale) and pitch of a stretch of speech."""

from __future__ import annotations

import numpy as np

from sentiment_svc.frames import SAMPLE_RATE

_FRAME = SAMPLE_RATE // 50  # 20 ms
SILENCE_DB = -90.0


def speech_level_db(pcm: np.ndarray) -> float:
    """Active speech level: mean power of the louder half of 20 ms frames.

    Averaging only the louder frames keeps pauses inside an utterance from pulling the level
    down, so a short and a long utterance said with the same effort read the same.
    """
    frames = len(pcm) // _FRAME
    if frames == 0:
        return SILENCE_DB
    power = np.square(pcm[: frames * _FRAME].astype(np.float64)).reshape(frames, _FRAME).mean(1)
    loud = np.sort(power)[frames // 2 :]
    mean_power = float(loud.mean())
    if mean_power <= 0.0:
        return SILENCE_DB
    return max(SILENCE_DB, 10.0 * np.log10(mean_power))


_PITCH_FRAME = SAMPLE_RATE * 40 // 1000  # 40 ms: at least two periods of a 70 Hz voice
PITCH_RANGE_HZ = (70.0, 400.0)
_VOICED_CLARITY = 0.5  # normalised autocorrelation peak above which a frame is voiced


def median_pitch_hz(pcm: np.ndarray) -> float | None:
    """Median fundamental frequency of the voiced 40 ms frames (autocorrelation), or None
    when nothing is clearly voiced. Telephone audio lacks the fundamental below 300 Hz, but
    its harmonics keep the autocorrelation period."""
    frames = len(pcm) // _PITCH_FRAME
    if frames == 0:
        return None
    blocks = pcm[: frames * _PITCH_FRAME].astype(np.float64).reshape(frames, _PITCH_FRAME)
    energy = np.square(blocks).mean(axis=1)
    loud = blocks[energy >= np.percentile(energy, 50)]
    shortest = int(SAMPLE_RATE / PITCH_RANGE_HZ[1])
    longest = int(SAMPLE_RATE / PITCH_RANGE_HZ[0])
    pitches = []
    for block in loud:
        block = block - block.mean()
        spectrum = np.fft.rfft(block, 2 * _PITCH_FRAME)
        correlation = np.fft.irfft(np.abs(spectrum) ** 2)[: _PITCH_FRAME]
        if correlation[0] <= 0:
            continue
        lag = shortest + int(np.argmax(correlation[shortest:longest]))
        if correlation[lag] / correlation[0] >= _VOICED_CLARITY:
            pitches.append(SAMPLE_RATE / lag)
    return float(np.median(pitches)) if pitches else None
