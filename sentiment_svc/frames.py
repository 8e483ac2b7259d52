"""Typed values that flow between the pipeline stages.

Every arrow in the pipeline (audio -> vad -> asr -> analysis -> alerts) carries one of
these. Times are seconds from the call start, as floats, everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sentiment_svc.domain.vocabulary import Action, Category, Channel, SentimentLabel, Severity

__all__ = [
    "SAMPLE_RATE", "Alert", "AlertAddressed", "Channel", "Sentiment", "SpeechSegment",
    "Transcript", "UtteranceAnalysis",
]

SAMPLE_RATE = 16_000
"""Every stage after decoding works on 16 kHz mono float32 PCM."""


@dataclass(frozen=True)
class SpeechSegment:
    """A stretch of one channel that the VAD judged to be speech."""

    channel: Channel
    start: float
    end: float
    pcm: np.ndarray  # float32, 16 kHz mono, [-1, 1]


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard in one segment."""

    segment: SpeechSegment
    text: str
    lang: str  # "ru" | "uk" | another ISO code Whisper detected
    partial: bool = False
    written: bool = False  # typed (chat, messenger, e-mail): no audio, so no voice to read

    @classmethod
    def typed(cls, channel: Channel, t: float, text: str, lang: str) -> Transcript:
        """A text contact's message at second `t` of the contact: it enters the pipeline
        where a recognised utterance does, with an empty segment (no VAD, no ASR)."""
        segment = SpeechSegment(channel, t, t, np.zeros(0, dtype=np.float32))
        return cls(segment, text, lang, written=True)


@dataclass(frozen=True)
class Sentiment:
    neg: float
    neu: float
    pos: float

    @property
    def label(self) -> SentimentLabel:
        scores = {label: getattr(self, label) for label in SentimentLabel}
        return max(scores, key=scores.__getitem__)


@dataclass(frozen=True)
class UtteranceAnalysis:
    """One recognised utterance with everything the analysis read from it."""

    channel: Channel
    start: float
    end: float
    lang: str
    text: str
    sentiment: Sentiment
    categories: tuple[Category, ...] = ()
    loudness_db: float = 0.0  # relative to the speaker's own baseline so far
    raised_voice: bool = False
    # Whether the customer complains, when the analysis reads it apart from the categories
    # (the fine-tuned model: "ну да, чего я ещё ждал" is a complaint naming no category);
    # None: a complaint category says so.
    complaint: bool | None = None


@dataclass(frozen=True)
class Alert:
    t: float  # when it would have fired live: the end of the triggering utterance
    action: Action
    severity: Severity
    reason: str
    evidence: tuple[str, ...] = field(default_factory=tuple)
    categories: tuple[Category, ...] = ()  # what the utterances quoted as evidence said


@dataclass(frozen=True)
class AlertAddressed:
    """The operator did what an alert suggested (heard on the operator channel)."""

    alert: Alert
    t: float  # end of the operator's utterance
    evidence: str  # what the operator said

    @property
    def seconds_to_address(self) -> float:
        return max(0.0, self.t - self.alert.t)
