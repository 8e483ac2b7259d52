"""Model-free stand-ins for unit tests of a call (`live.call.LiveCall`) and of the service's
admission (`live.service.Service`): everything the call needs except Whisper and e5.

What is a STAND-IN here, and what it replaces:
- `ScriptedRecogniser`: the shared recognition queue (`asr.scheduler.AsrScheduler`, the
  `live.context.Recogniser` protocol). It answers with texts the test chose, records every
  request, and can be held (busy) to simulate an overloaded recogniser.
- `FixedEncoder`: e5 (`analysis.text_encoder.E5Encoder`, the `TextEncoder` protocol): an
  all-zero embedding of the head's width, so the sentiment comes from the head's bias and
  the lexicon's categories.
- `NoWhisper`: `Engines.recognizer`. A call recognises through its context's `Recogniser`,
  never through the engines: any use of it fails the test.

Everything else is the real thing: `Policy.load()`, `UtteranceAnalyzer` with the bundled
`SentimentHead` and `ComplaintLexicon`, `PiiMasker`, the Silero VAD inside faster_whisper,
`AudioTicker` over a thread pool, `Metrics`. Nothing reads `models/`.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from sentiment_svc.asr.scheduler import CostModel
from sentiment_svc.domain.messages import AlertMessage, Message
from sentiment_svc.frames import Channel, SpeechSegment, Transcript
from sentiment_svc.live.context import CallContext
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.live.ticker import AudioTicker
from sentiment_svc.pipeline import Engines
from sentiment_svc.protocols.base import AudioChunk, CallStart

TEST_STEP_S = 0.002  # the audio ticker's period in tests: the call runs ~20x real time


# -- stand-ins ------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One `transcribe` call the recogniser received."""

    channel: Channel
    start: float
    end: float
    partial: bool
    urgency: int
    heard_s: float  # the call's audio handed to its VAD when the request came (see `clock`)
    text: str


class ScriptedRecogniser:
    """STAND-IN for `AsrScheduler`: the `Recogniser` protocol, plus what the service reads
    of its scheduler (`workers`, `workers_alive`, `backlog_s`, `close`).

    `script`: the final texts, either a list given out in the order final (not partial)
    requests arrive, or a function of the segment. Partial requests get `partial_text`.
    `expected_finish_s`: what it promises for a request made now while a worker is free
    (the call starts an early final only if the result is due before the VAD closes the
    utterance); None when held or queued, as the real scheduler says.
    `hold()` makes every request wait until `release()`: a busy recogniser, with `depth`
    the requests waiting and no free worker."""

    def __init__(
        self,
        script: Sequence[str] | Callable[[SpeechSegment], str] = (),
        *,
        partial_text: str = "interim words",
        expected_finish_s: float = 0.3,
        lang: str = "ru",
        clock: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._script = script if callable(script) else list(script)
        self._given = 0
        self.partial_text = partial_text
        self._expected_s = expected_finish_s
        self.lang = lang
        self.clock = clock
        self.requests: list[Request] = []
        self._open = asyncio.Event()
        self._open.set()
        self._waiting = 0
        self.workers = 1
        self.workers_alive = 1
        self.backlog_s = 0.0  # what admission reads: set it to play an overloaded machine
        self.live_busy_s = 0.0  # and the calls' demand: add to it to play their utterances
        self.cost = CostModel()
        self.closed = False

    # the Recogniser protocol
    @property
    def depth(self) -> int:
        return self._waiting

    @property
    def has_free_worker(self) -> bool:
        return self._open.is_set() and not self._waiting

    def expected_finish_s(self, audio_seconds: float) -> float | None:
        return self._expected_s if self.has_free_worker else None

    async def transcribe(
        self, segment: SpeechSegment, languages: Any, partial: bool = False, urgency: int = 0,
        background: bool = False,
    ) -> Transcript:
        text = self.partial_text if partial else self._final_text(segment)
        self.requests.append(Request(
            segment.channel, segment.start, segment.end, partial, urgency, self.clock(), text,
        ))
        self._waiting += 1
        try:
            await self._open.wait()
        finally:
            self._waiting -= 1
        return Transcript(segment, text, self.lang, partial)

    # what the service reads of its scheduler
    def close(self) -> None:
        self.closed = True

    # test controls
    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def finals(self, channel: Channel | None = None) -> list[Request]:
        return [r for r in self.requests
                if not r.partial and (channel is None or r.channel is channel)]

    def partials(self) -> list[Request]:
        return [r for r in self.requests if r.partial]

    def _final_text(self, segment: SpeechSegment) -> str:
        if callable(self._script):
            return self._script(segment)
        if self._given < len(self._script):
            self._given += 1
            return self._script[self._given - 1]
        return f"{segment.channel} {segment.start:.2f}-{segment.end:.2f}"


class FixedEncoder:
    """STAND-IN for e5 (`TextEncoder`): zero embeddings of the head's width."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return np.zeros((len(texts), self.dim), dtype=np.float32)


class NoWhisper:
    """STAND-IN for `Engines.recognizer`: a call must not use it."""

    def transcribe_segment(self, *args: object, **kwargs: object) -> Transcript:
        raise AssertionError("a call recognises through CallContext.asr, not the engines")


@functools.cache
def _models() -> tuple[Any, Any, Any]:
    from sentiment_svc.alerts.policy import Policy
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.sentiment import SentimentHead

    return Policy.load(), SentimentHead.load(), ComplaintLexicon.load()


def model_free_engines(mask: bool = True) -> Engines:
    """Real `Engines` with the real policy, head, lexicon and masker; e5 and Whisper are
    the stand-ins above."""
    from sentiment_svc.analysis.analyzer import UtteranceAnalyzer
    from sentiment_svc.analysis.pii import PiiMasker

    policy, head, lexicon = _models()
    analyzer = UtteranceAnalyzer(FixedEncoder(head.weights.shape[1]), head, lexicon)
    return Engines(NoWhisper(), analyzer, policy, PiiMasker() if mask else None)  # type: ignore[arg-type]


# -- a harness that runs one call -----------------------------------------------------
@dataclass
class CallHarness:
    """A call's context with real executors, ticker and metrics; the call's messages are
    collected in `published`. `record` (the service's recording hook) also counts the VAD
    steps and the audio each has seen, so `push_paced` can hand the call one chunk per
    step, as a real-time socket does, only faster."""

    asr: ScriptedRecogniser
    partials_skipped: Callable[[], str | None] | None = None
    engines: Engines = field(default_factory=model_free_engines)
    published: list[Message] = field(default_factory=list)
    alerts_sent: list[AlertMessage] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    rate: int = 8000
    steps: int = 0
    customer_s: float = 0.0  # customer audio handed to the VAD so far

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.audio_pool = ThreadPoolExecutor(2, "test-audio")
        self.text_pool = ThreadPoolExecutor(1, "test-text")
        self.asr.clock = lambda: self.customer_s

    def context(self) -> CallContext:
        return CallContext(
            engines=self.engines, asr=self.asr,
            ticker=AudioTicker(self.audio_pool, period_s=TEST_STEP_S),
            analysis_executor=self.text_pool, metrics=self.metrics,
            publish=self.published.append, record=self._record,
            partials_skipped=self.partials_skipped, send_alert=self.alerts_sent.append,
        )

    def _record(self, parts: list[tuple[Channel, np.ndarray]]) -> None:  # worker thread
        with self._lock:
            self.steps += 1
            self.customer_s += sum(
                len(pcm) for channel, pcm in parts if channel is Channel.CUSTOMER
            ) / self.rate

    async def push_paced(self, call: Any, chunks: Sequence[AudioChunk],
                         timeout_s: float = 20.0) -> None:
        """Each chunk once the call's VAD stage has taken the one before: one per step."""
        deadline = time.monotonic() + timeout_s
        for chunk in chunks:
            before = self.steps
            await call.push(chunk)
            while self.steps == before:
                assert time.monotonic() < deadline, "the call's VAD stage stopped"
                await asyncio.sleep(0.0005)

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def of_type(self, kind: type) -> list[Any]:
        return [message for message in self.published if isinstance(message, kind)]

    def close(self) -> None:
        self.audio_pool.shutdown(wait=True)
        self.text_pool.shutdown(wait=True)


# -- audio ----------------------------------------------------------------------------
def read_int16(path: Path, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """(frames, channels) int16 samples of a recording, optionally its first `seconds`."""
    pcm, rate = soundfile.read(path, dtype="int16", always_2d=True)
    if seconds is not None:
        pcm = pcm[: int(seconds * rate)]
    return pcm, int(rate)


def silence(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    return np.zeros((int(round(seconds * rate)), channels), dtype=np.int16)


def chunks_of(pcm: np.ndarray, rate: int, chunk_s: float = 0.05) -> list[AudioChunk]:
    """Interleaved chunks (`channel` None: the columns go through the call's channel map)."""
    step = int(chunk_s * rate)
    return [AudioChunk(pcm=pcm[at : at + step], t=at / rate) for at in range(0, len(pcm), step)]


def call_start(call_id: str = "unit-1", rate: int = 8000, channels: int = 1,
               operator_id: str = "op-1", customer_id: str | None = None) -> CallStart:
    """Mono: the customer; stereo: customer left, operator right."""
    channel_map = {0: Channel.CUSTOMER, 1: Channel.OPERATOR}
    return CallStart(
        call_id=call_id, operator_id=operator_id, customer_id=customer_id, language="ru",
        sample_rate=rate, encoding="pcm16", channels=channels,
        channel_map={i: channel_map[i] for i in range(channels)},
    )
