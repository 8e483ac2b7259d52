"""Raised voice: each speaker's loudness against that speaker's own baseline.

Telephone levels differ by tens of dB between lines and handsets, so only a rise over the
same caller's earlier speech means anything. A single loud utterance is not enough: the rise
has to hold over consecutive utterances.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sentiment_svc.audio.loudness import SILENCE_DB


@dataclass(frozen=True)
class ProsodyConfig:
    baseline_utterances: int = 3  # the baseline is the median of the first calm utterances
    raised_db: float = 6.0  # a rise of at least this much over the baseline ...
    sustained: int = 2  # ... over this many consecutive utterances is a raised voice


@dataclass(frozen=True)
class LoudnessReading:
    level_db: float
    relative_db: float  # 0 while the baseline is still being learned
    raised_voice: bool


@dataclass
class SpeakerLoudness:
    """Per call and speaker."""

    config: ProsodyConfig = field(default_factory=ProsodyConfig)
    _history: list[float] = field(default_factory=list)
    _loud_run: int = 0

    @property
    def baseline_db(self) -> float | None:
        if not self._history:
            return None
        return statistics.median(self._history[: self.config.baseline_utterances])

    def observe(self, level_db: float) -> LoudnessReading:
        if level_db <= SILENCE_DB:
            return LoudnessReading(level_db, 0.0, False)
        baseline = self.baseline_db
        self._history.append(level_db)
        if baseline is None:
            return LoudnessReading(level_db, 0.0, False)
        relative = level_db - baseline
        self._loud_run = self._loud_run + 1 if relative >= self.config.raised_db else 0
        return LoudnessReading(level_db, relative, self._loud_run >= self.config.sustained)
