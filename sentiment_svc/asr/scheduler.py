"""One recognition queue for every live call: worker threads around a shared Whisper model.

Calls submit finished utterances and await their transcripts; the event loop never runs
the model. Customer utterances go before operator ones (they drive the alerts), then the
oldest audio first. Every final utterance is recognised: when the queue is long, callers
wait, which slows their own ingest, never anyone's finals.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sentiment_svc.asr.whisper import WhisperRecognizer
from sentiment_svc.frames import Channel, SpeechSegment, Transcript

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Job:
    priority: tuple[int, float]
    order: int
    segment: SpeechSegment | None = field(compare=False)  # None: a worker should stop
    languages: Sequence[str] = field(compare=False, default=())
    loop: asyncio.AbstractEventLoop | None = field(compare=False, default=None)
    future: asyncio.Future[Transcript] | None = field(compare=False, default=None)


class AsrScheduler:
    def __init__(
        self,
        recognizer: WhisperRecognizer,
        workers: int = 1,
        on_done: Callable[[float, float], None] | None = None,
    ) -> None:
        """`on_done(audio_seconds, busy_seconds)` is called from the worker after each job."""
        self._recognizer = recognizer
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._counter = itertools.count()
        self._on_done = on_done
        self._threads = [
            threading.Thread(target=self._work, name=f"asr-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def transcribe(
        self, segment: SpeechSegment, languages: Sequence[str], partial: bool = False
    ) -> Transcript:
        """Final utterances of customers first, then operators', then interim (partial) ones."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Transcript] = loop.create_future()
        rank = 2 if partial else 0 if segment.channel is Channel.CUSTOMER else 1
        self._queue.put(
            _Job((rank, segment.end), next(self._counter), segment, languages, loop, future)
        )
        return await future

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(_Job((9, 0.0), next(self._counter), None))
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self) -> None:
        import time

        while (job := self._queue.get()).segment is not None:
            assert job.future is not None and job.loop is not None
            if job.future.cancelled():
                continue
            started = time.perf_counter()
            try:
                result: Transcript | BaseException = self._recognizer.transcribe_segment(
                    job.segment, job.languages
                )
            except Exception as error:  # a bad utterance must not kill the worker
                log.exception("recognition failed")
                result = error
            if self._on_done is not None:
                self._on_done(job.segment.end - job.segment.start, time.perf_counter() - started)
            job.loop.call_soon_threadsafe(_resolve, job.future, result)


def _resolve(future: asyncio.Future[Transcript], result: Transcript | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
