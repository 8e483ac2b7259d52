"""Raised voice: each speaker's loudness against that speaker's own baseline.

Telephone levels differ by tens of dB between lines and handsets, so only a rise over the
same caller's earlier speech means anything. `raised_voice` needs the rise to hold over
consecutive utterances; each reading's `relative_db` (the utterance's level over the median
of the caller's first utterances) is what the escalation policy reads for one utterance
shouted well over that baseline (`min_loudness_db` in `alerts/data/policy.yaml`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sentiment_svc.audio.loudness import SILENCE_DB


@dataclass(frozen=True)
class ProsodyConfig:
    baseline_utterances: int = 3  # the baseline is the median of the first calm utterances
    raised_db: float = 6.0  # a rise of at least this much over the baseline ...
    # ... or a smaller one with the voice pitched this much higher than its own baseline ...
    supporting_db: float = 3.0
    raised_pitch: float = 1.15
    sustained: int = 2  # ... over this many consecutive utterances is a raised voice


@dataclass(frozen=True)
class LoudnessReading:
    level_db: float
    relative_db: float  # 0 while the baseline is still being learned
    raised_voice: bool
    pitch_ratio: float | None = None  # median pitch over the speaker's baseline pitch


@dataclass
class SpeakerLoudness:
    """Per call and speaker."""

    config: ProsodyConfig = field(default_factory=ProsodyConfig)
    _history: list[float] = field(default_factory=list)
    _pitches: list[float] = field(default_factory=list)
    _loud_run: int = 0

    @property
    def baseline_db(self) -> float | None:
        if not self._history:
            return None
        return statistics.median(self._history[: self.config.baseline_utterances])

    @property
    def baseline_pitch_hz(self) -> float | None:
        if not self._pitches:
            return None
        return statistics.median(self._pitches[: self.config.baseline_utterances])

    def observe(self, level_db: float, pitch_hz: float | None = None) -> LoudnessReading:
        if level_db <= SILENCE_DB:
            return LoudnessReading(level_db, 0.0, False)
        baseline, baseline_pitch = self.baseline_db, self.baseline_pitch_hz
        self._history.append(level_db)
        if pitch_hz is not None:
            self._pitches.append(pitch_hz)
        if baseline is None:
            return LoudnessReading(level_db, 0.0, False)
        relative = level_db - baseline
        ratio = None
        if pitch_hz is not None and baseline_pitch:
            ratio = pitch_hz / baseline_pitch
        config = self.config
        loud = relative >= config.raised_db or (
            relative >= config.supporting_db and ratio is not None and ratio >= config.raised_pitch
        )
        self._loud_run = self._loud_run + 1 if loud else 0
        return LoudnessReading(level_db, relative, self._loud_run >= config.sustained, ratio)
