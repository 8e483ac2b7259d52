"""The analysis of one call: audio -> VAD -> Whisper -> analysis -> alerts, step by step.
A text contact (chat, messenger, e-mail) is the same pipeline with a text source: its
messages enter `analyze` as typed transcripts (`Transcript.typed`), skipping VAD and ASR.

`Engines` holds the loaded models (once per process, shared by all calls). `CallPipeline`
holds one call's state: a VAD segmenter and a loudness baseline per channel, and the
escalation state. Its steps are synchronous; `live.call.LiveCall` drives them for every
call, live, replayed or read from a file (`live.offline`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.alerts.state import CallState
from sentiment_svc.analysis.analyzer import UtteranceAnalyzer
from sentiment_svc.analysis.batching import CombiningEncoder, TextEncoder
from sentiment_svc.analysis.pii import PiiConfig, PiiMasker
from sentiment_svc.analysis.prosody import LoudnessReading, SpeakerLoudness
from sentiment_svc.analysis.text_model import CONTEXT_TURNS
from sentiment_svc.asr.whisper import AsrConfig, WhisperRecognizer
from sentiment_svc.audio.loudness import SILENCE_DB, median_pitch_hz, speech_level_db
from sentiment_svc.config import Settings, TextModelChoice
from sentiment_svc.domain.messages import CallSummary
from sentiment_svc.domain.vocabulary import CALL_LANGUAGES, Language, SentimentLabel
from sentiment_svc.frames import (
    Alert,
    AlertAddressed,
    Channel,
    SpeechSegment,
    Transcript,
    UtteranceAnalysis,
)
from sentiment_svc.vad.silero import SpeechSegmenter, VadConfig

if TYPE_CHECKING:
    from sentiment_svc.analysis.model_analyzer import ModelAnalyzer

Event = UtteranceAnalysis | Alert | AlertAddressed
# A typed message has no voice: nothing is loud, and the speaker's baseline is not touched.
NO_VOICE = LoudnessReading(SILENCE_DB, 0.0, False)


@dataclass
class Engines:
    """Everything loaded once per process."""

    recognizer: WhisperRecognizer
    analyzer: UtteranceAnalyzer | ModelAnalyzer
    policy: Policy
    masker: PiiMasker | None = None  # personal data masked right after recognition

    @classmethod
    def load(cls, settings: Settings) -> Engines:
        workers, threads = settings.asr_layout()
        recognizer = WhisperRecognizer(
            settings.whisper_dir,
            AsrConfig(cpu_threads=threads, workers=workers),
        )
        analyzer = load_analyzer(settings)
        return cls(recognizer, analyzer, Policy.load(settings.policy_file), load_masker(settings))


def load_replay_recognizer(settings: Settings) -> WhisperRecognizer:
    """The QA replays' own Whisper model, one batch at a time on one thread; `AsrScheduler`
    builds it at the lowest CPU priority when the first replay starts. One thread: the
    threads of a parallel decode wait for each other, and at the lowest priority one of them
    starved on a busy core held up the whole decode (a replay at 4x took 90 s instead of 3
    beside a process holding one core)."""
    return WhisperRecognizer(settings.whisper_dir, AsrConfig(cpu_threads=1, workers=1))


def load_analyzer(
    settings: Settings, encoder: TextEncoder | None = None
) -> UtteranceAnalyzer | ModelAnalyzer:
    """The analyzer the service runs: e5 (`settings.e5_dir`, or an already loaded `encoder`)
    shared by concurrent callers, the bundled sentiment head, the lexicon of the settings.
    With `text_model="tuned"` (and no `encoder` given): the fine-tuned model that
    `make install` exports to `models/e5-small-tuned/`, with the same lexicon."""
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.sentiment import SentimentHead
    from sentiment_svc.analysis.text_encoder import E5Encoder

    if settings.text_model == TextModelChoice.TUNED and encoder is None:
        from sentiment_svc.analysis.model_analyzer import ModelAnalyzer
        from sentiment_svc.analysis.text_model import OnnxTextModel

        return ModelAnalyzer(
            OnnxTextModel(settings.tuned_text_dir, context_tokens=settings.text_context_tokens),
            ComplaintLexicon.load(settings.lexicon_file),
        )
    return UtteranceAnalyzer(
        encoder=CombiningEncoder(encoder or E5Encoder(settings.e5_dir)),
        head=SentimentHead.load(),
        lexicon=ComplaintLexicon.load(settings.lexicon_file),
    )


def load_masker(settings: Settings) -> PiiMasker | None:
    """The personal-data masker the settings ask for; None when masking is off."""
    if not settings.mask_personal_data:
        return None
    config = PiiConfig.load(settings.pii_config_file) if settings.pii_config_file else None
    return PiiMasker(config)


def languages_for(choice: str) -> tuple[str, ...]:
    """`auto` lets Whisper choose between the call-centre languages per utterance."""
    return CALL_LANGUAGES if choice == Language.AUTO else (str(choice),)


@dataclass
class CallPipeline:
    engines: Engines
    languages: Sequence[str] = CALL_LANGUAGES
    vad: VadConfig = field(default_factory=VadConfig)
    state: CallState = field(init=False)
    _segmenters: dict[Channel, SpeechSegmenter] = field(init=False, default_factory=dict)
    _loudness: dict[Channel, SpeakerLoudness] = field(init=False, default_factory=dict)
    _utterances: list[UtteranceAnalysis] = field(init=False, default_factory=list)
    _alerts: int = field(init=False, default=0)
    # The call's latest turns ("C: …" / "O: …", masked), read with the next utterance by
    # an analyzer that `reads_context` (the fine-tuned model, SENTIMENT_TEXT_CONTEXT_TOKENS).
    _turns: deque[str] = field(init=False, default_factory=lambda: deque(maxlen=CONTEXT_TURNS))

    def __post_init__(self) -> None:
        self.state = CallState(self.engines.policy)

    def feed(self, channel: Channel, pcm: np.ndarray) -> list[SpeechSegment]:
        """Cheap (VAD only): the utterances on `channel` that ended in this audio."""
        return self._segmenter(channel).feed(pcm)

    def open_utterances(
        self, wanted: Callable[[Channel, float, float], bool] = lambda *_: True
    ) -> list[SpeechSegment]:
        """Utterances still being spoken, so far, whose (channel, start, end) is `wanted`
        (asked before their audio is copied)."""
        return [
            segment
            for channel, segmenter in self._segmenters.items()
            if (span := segmenter.open_span()) is not None and wanted(channel, *span)
            and (segment := segmenter.open_utterance()) is not None
        ]

    def ending_utterances(
        self, wanted: Callable[[Channel, float, float], bool] = lambda *_: True
    ) -> list[SpeechSegment]:
        """Utterances that will be emitted as they are unless speech resumes (see
        `SpeechSegmenter.ending_utterance`), whose (channel, start, end) is `wanted`."""
        return [
            segment
            for channel, segmenter in self._segmenters.items()
            if (span := segmenter.ending_span()) is not None and wanted(channel, *span)
            and (segment := segmenter.ending_utterance()) is not None
        ]

    def ending_spans(self) -> dict[Channel, tuple[float, float]]:
        """(start, end) of the utterances about to end, per channel."""
        return {
            channel: span
            for channel, segmenter in self._segmenters.items()
            if (span := segmenter.ending_span()) is not None
        }

    def silence_s(self, channel: Channel) -> float:
        """Seconds of silence so far inside the utterance open on `channel`."""
        segmenter = self._segmenters.get(channel)
        return 0.0 if segmenter is None else segmenter.silence_s

    def flush(self) -> list[SpeechSegment]:
        segments = [s for segmenter in self._segmenters.values() for s in segmenter.flush()]
        return sorted(segments, key=lambda segment: segment.end)

    def transcribe(self, segment: SpeechSegment) -> Transcript:
        """Blocking: Whisper on one utterance."""
        return self.engines.recognizer.transcribe_segment(segment, self.languages)

    def mask(self, transcript: Transcript) -> Transcript:
        """Personal data (cards, phones, passports, INN, SNILS, e-mail) out of the text,
        before anything downstream can store, push or quote it."""
        masker = self.engines.masker
        if masker is None or not transcript.text:
            return transcript
        return replace(transcript, text=masker.mask(transcript.text, transcript.lang).text)

    def analyze(self, transcripts: Sequence[Transcript]) -> list[Event]:
        """Blocking (e5): analyse finished transcripts in call order and update the state."""
        transcripts = [self.mask(transcript) for transcript in transcripts]
        readings = [
            NO_VOICE if t.written
            else self._loudness.setdefault(t.segment.channel, SpeakerLoudness()).observe(
                speech_level_db(t.segment.pcm), median_pitch_hz(t.segment.pcm)
            )
            for t in transcripts
        ]
        analyzer = self.engines.analyzer
        if analyzer.reads_context:
            analyses = analyzer.analyze(transcripts, readings, self._contexts(transcripts))
        else:
            analyses = analyzer.analyze(transcripts, readings)
        events: list[Event] = []
        for utterance in analyses:
            if not utterance.text:
                continue
            self._utterances.append(utterance)
            alerts = self.state.observe(utterance)
            self._alerts += sum(isinstance(alert, Alert) for alert in alerts)
            events.append(utterance)
            events.extend(alerts)
        return events

    def _contexts(self, transcripts: Sequence[Transcript]) -> list[tuple[str, ...]]:
        """Each transcript's earlier turns in the call (the ones before it in this batch
        included); the transcripts join the turns."""
        contexts = []
        for transcript in transcripts:
            contexts.append(tuple(self._turns))
            if transcript.text:
                speaker = "C" if transcript.segment.channel is Channel.CUSTOMER else "O"
                self._turns.append(f"{speaker}: {transcript.text}")
        return contexts

    def summary(self, duration: float) -> CallSummary:
        customer = [u for u in self._utterances if u.channel is Channel.CUSTOMER]
        negative = sum(u.sentiment.label is SentimentLabel.NEG for u in customer)
        negative_share = negative / len(customer) if customer else 0.0
        return CallSummary(
            duration=round(duration, 3),
            utterances=len(self._utterances),
            alerts=self._alerts,
            negative_share=round(negative_share, 3),
            csat_estimate=self._csat(customer),
        )

    def _csat(self, customer: list[UtteranceAnalysis]) -> float:
        """A rough 1..5 satisfaction guess: mean sentiment, pulled down by the peak escalation."""
        if not customer:
            return 3.0
        balance = sum(u.sentiment.pos - u.sentiment.neg for u in customer) / len(customer)
        estimate = 3.0 + 2.0 * balance - 0.5 * int(self.state.level)
        return round(min(5.0, max(1.0, estimate)), 1)

    def _segmenter(self, channel: Channel) -> SpeechSegmenter:
        if channel not in self._segmenters:
            self._segmenters[channel] = SpeechSegmenter(channel, self.vad)
        return self._segmenters[channel]
