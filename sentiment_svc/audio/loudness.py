"""Loudness of a stretch of speech, in dB relative to full scale."""

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
