"""What a call needs from whoever runs it, and nothing more: the service for a live call or
a replay, `analyze` for a file, a test for a model-free check of the call's own logic."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sentiment_svc.domain.messages import AlertMessage, Message, UtteranceMessage
from sentiment_svc.frames import Channel, SpeechSegment, Transcript
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.live.ticker import AudioTicker
from sentiment_svc.storage.hop import StoreHop

if TYPE_CHECKING:
    from sentiment_svc.pipeline import Engines


class Recogniser(Protocol):
    """The shared recognition queue (`asr.scheduler.AsrScheduler`)."""

    @property
    def depth(self) -> int: ...

    @property
    def has_free_worker(self) -> bool: ...

    def expected_finish_s(self, audio_seconds: float) -> float | None: ...

    async def transcribe(self, segment: SpeechSegment, languages: Any, partial: bool = False,
                         urgency: int = 0, background: bool = False) -> Transcript: ...


@dataclass
class CallContext:
    engines: Engines  # VAD settings, masker, analyzer, policy (the recogniser is `asr`)
    asr: Recogniser
    ticker: AudioTicker  # the audio stage's clock and worker threads
    analysis_executor: Executor  # e5 and the escalation state
    metrics: Metrics
    publish: Callable[[Message], None]  # every message of the call, in order
    store: StoreHop | None = None  # None: nothing is stored (replay, analyze)
    record: Callable[[list[tuple[Channel, np.ndarray]]], None] | None = None  # worker thread
    # Why interim transcripts should not be made now (None: they may); None: never made.
    partials_skipped: Callable[[], str | None] | None = None
    send_alert: Callable[[AlertMessage], None] | None = None  # back to the telephony side
    send_utterance: Callable[[UtteranceMessage], None] | None = None  # final ones, likewise
    wall_clock: bool = True  # audio arrives in real time: latency metrics mean something
    background: bool = False  # recognised after every live call's utterances (a replay)
