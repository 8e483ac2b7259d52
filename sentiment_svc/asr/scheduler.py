"""One recognition queue for every live call: worker threads around a shared Whisper model.

Calls submit finished utterances and await their transcripts; the event loop never runs
the model. Customer utterances go before operator ones (they drive the alerts), then the
oldest audio first. Every final utterance is recognised: when the queue is long, callers
wait, which slows their own ingest, never anyone's finals.

QA replays (background jobs) never reach the live workers: they have their own queue, a
worker thread of their own, and (`background_loader`) a Whisper model of their own whose
native threads run at the lowest CPU priority, so a replay's decode takes only the CPU time
the live calls leave (`threads.built_at_lowest_priority`). Workers are not pre-empted:
sharing the live model would make a live utterance wait out a replay's batch.

The first worker takes each utterance as soon as it is queued. The others are helpers: they
take one only once the first worker has fallen behind: the utterance has waited
`helper_delay_s`, or every busy worker is expected to need longer than that to finish (a
long utterance in progress). Two decoders running at once slow each other down (they share
the memory bus and the cache), so on a lightly loaded machine one worker does the work for
less CPU, and what queues meanwhile is recognised in one batch. Expected times come from
the measured cost of recent batches per second of audio (`CostModel`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sentiment_svc.asr.whisper import WhisperRecognizer
from sentiment_svc.frames import SAMPLE_RATE, Channel, SpeechSegment, Transcript

log = logging.getLogger(__name__)
# Utterances batched together share the longest one's encoder window; past this ratio the
# padding costs more encoder time than the shared decoder pass saves.
WINDOW_SPREAD = 1.5
HELPER_POLL_S = 0.02
BACKGROUND = 3  # a job's kind (first in its priority) for QA replays
BACKGROUND_THREAD = "asr-replay"  # the replays' worker (a Python thread, normal priority)
BACKGROUND_MODEL_THREADS = "asr-replay-cpu"  # its model's native threads (lowest priority)


class Work(StrEnum):
    """What a recognised utterance was, as `on_done` reports it (a metrics label)."""

    FINAL = "final"  # a live call's finished utterance
    PARTIAL = "partial"  # a live call's interim transcript
    REPLAY = "replay"  # a QA replay's, on the replays' own model at the lowest priority


class CostModel:
    """Expected seconds to recognise a batch: `rate x (fixed + audio seconds)` per utterance,
    where `fixed` stands for the encoder's window and the prompt, and `rate` follows the
    measured batches (the machine's speed, the model's size)."""

    def __init__(self, rate: float = 0.06, fixed_s: float = 3.0, smoothing: float = 0.2):
        self.rate = rate
        self.fixed_s = fixed_s
        self._smoothing = smoothing

    def expected(self, audio_seconds: Sequence[float]) -> float:
        return self.rate * sum(self.fixed_s + seconds for seconds in audio_seconds)

    def observe(self, audio_seconds: Sequence[float], busy_s: float) -> None:
        work = sum(self.fixed_s + seconds for seconds in audio_seconds)
        if work > 0:
            self.rate += self._smoothing * (busy_s / work - self.rate)


@dataclass(order=True)
class _Job:
    priority: tuple[int, int, float]  # (kind, -urgency, audio end): smallest first
    order: int
    segment: SpeechSegment | None = field(compare=False)  # None: a worker should stop
    languages: Sequence[str] = field(compare=False, default=())
    loop: asyncio.AbstractEventLoop | None = field(compare=False, default=None)
    future: asyncio.Future[Transcript] | None = field(compare=False, default=None)
    queued_at: float = field(compare=False, default_factory=time.monotonic)


class AsrScheduler:
    def __init__(
        self,
        recognizer: WhisperRecognizer,
        workers: int = 1,
        on_done: Callable[[float, float, Work], None] | None = None,
        max_batch: int = 4,
        on_batch: Callable[[int], None] | None = None,
        helper_delay_s: float = 0.25,
        cost: CostModel | None = None,
        on_skipped: Callable[[], None] | None = None,
        background_loader: Callable[[], WhisperRecognizer] | None = None,
    ) -> None:
        """`on_done(audio_seconds, busy_seconds, work)` is called from the worker after
        each job, `on_batch(size)` before each recognition pass, `on_skipped()` for each job
        cancelled while it was being encoded (not decoded). Workers after the first
        take a job only once it has waited `helper_delay_s`. `background_loader` builds the
        replays' own model, at the lowest CPU priority, when the first replay needs it;
        without one, replays share `recognizer` (tests, tools)."""
        self._recognizer = recognizer
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._background_queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._background_loader = background_loader
        self._background_recognizer: WhisperRecognizer | None = (
            None if background_loader else recognizer)
        self._counter = itertools.count()
        self._on_done = on_done
        self._on_batch = on_batch
        self._on_skipped = on_skipped
        self._max_batch = max_batch
        self._helper_delay_s = helper_delay_s
        self._working = [False] * workers  # one flag per worker: no lock needed
        self._expected_done = [0.0] * workers  # monotonic time each worker should be free
        self.cost = cost or CostModel()
        # Each worker's seconds spent recognising live final utterances (the demand that
        # admission learns per call-second); one slot per worker: no lock needed.
        self._live_busy_s = [0.0] * workers
        self._threads = [
            threading.Thread(
                target=self._work, args=(n, 0.0 if n == 0 else helper_delay_s),
                name=f"asr-{n}", daemon=True,
            )
            for n in range(workers)
        ]
        self._replay_thread = threading.Thread(
            target=self._work_background, name=BACKGROUND_THREAD, daemon=True)
        for thread in (*self._threads, self._replay_thread):
            thread.start()

    @property
    def workers(self) -> int:
        """Live workers (the replays' worker is not one)."""
        return len(self._threads)

    @property
    def workers_alive(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def live_busy_s(self) -> float:
        """Seconds the workers have spent recognising live final utterances, in total."""
        return sum(self._live_busy_s)

    @property
    def backlog_s(self) -> float:
        """Seconds until the live work queued and running now would be done, per worker:
        how late an utterance of a call admitted now would be recognised (admission)."""
        with self._queue.mutex:
            queued = [len(job.segment.pcm) / SAMPLE_RATE for job in self._queue.queue
                      if job.segment is not None and job.priority[0] != BACKGROUND]
        now = time.monotonic()
        running = sum(max(0.0, done - now) for done, busy
                      in zip(self._expected_done, self._working, strict=True) if busy)
        waiting = self.cost.expected(queued) if queued else 0.0
        return (waiting + running) / max(1, self.workers_alive)

    @property
    def idle(self) -> bool:
        """Nothing queued and no worker recognising: a job submitted now starts at once."""
        return not any(self._working) and not self._queue.qsize()

    @property
    def has_free_worker(self) -> bool:
        """Nothing queued and a worker free: a job submitted now starts at once, or on a
        helper within `helper_delay_s`."""
        return not all(self._working) and not self._queue.qsize()

    def expected_finish_s(self, audio_seconds: float) -> float | None:
        """Seconds until an utterance this long, submitted now, would be recognised; None
        if it would queue behind others (no `has_free_worker`)."""
        if not self.has_free_worker:
            return None
        starts_in = 0.0
        if self._working[0]:  # only a helper is free: it steps in within its delay
            starts_in = min(
                self._helper_delay_s, max(0.0, self._expected_done[0] - time.monotonic())
            )
        return starts_in + self.cost.expected([audio_seconds])

    async def transcribe(
        self,
        segment: SpeechSegment,
        languages: Sequence[str],
        partial: bool = False,
        urgency: int = 0,
        background: bool = False,
    ) -> Transcript:
        """Final utterances of customers first, then operators', then interim (partial) ones;
        within each, the most urgent (a call's escalation level: the closer to an alert
        decision, the sooner), then the oldest audio."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Transcript] = loop.create_future()
        kind = BACKGROUND if background else 2 if partial else int(
            segment.channel is not Channel.CUSTOMER)
        jobs = self._background_queue if background else self._queue
        jobs.put(_Job(
            (kind, -urgency, segment.end), next(self._counter), segment, languages, loop, future
        ))
        return await future

    def close(self) -> None:
        for _ in range(self.workers):
            self._queue.put(_Job((9, 0, 0.0), next(self._counter), None))
        self._background_queue.put(_Job((9, 0, 0.0), next(self._counter), None))
        for thread in (*self._threads, self._replay_thread):
            thread.join(timeout=30)

    def _work(self, worker: int, delay_s: float) -> None:
        from sentiment_svc.threads import name_this_thread

        name_this_thread(threading.current_thread().name)
        while True:
            batch = self._next_batch(delay_s, worker)
            if batch is None:
                return
            try:
                self._run_batch(batch, worker)
            except Exception as error:  # a bug here must not stop recognition for every call
                log.exception("ASR worker error")
                self._working[worker] = False
                _fail(batch, error)

    def _work_background(self) -> None:
        from sentiment_svc.threads import name_this_thread

        name_this_thread(BACKGROUND_THREAD)
        while True:
            batch = self._batch_from(self._background_queue, lambda job: True)
            if batch is None:
                return
            try:
                self._run_batch(batch, None)
            except Exception as error:  # a replay's failure is its own
                log.exception("ASR replay worker error")
                _fail(batch, error)

    def _replay_recognizer(self) -> WhisperRecognizer:
        if self._background_recognizer is None:
            from sentiment_svc.threads import built_at_lowest_priority

            assert self._background_loader is not None
            self._background_recognizer = built_at_lowest_priority(
                BACKGROUND_MODEL_THREADS, self._background_loader)
        return self._background_recognizer

    def _run_batch(self, batch: list[_Job], worker: int | None) -> None:
        """Recognise a batch on live worker `worker`'s share of the live model, or (None)
        on the replays' model."""
        if self._on_batch is not None:
            self._on_batch(len(batch))
        audio_seconds = [len(job.segment.pcm) / SAMPLE_RATE for job in batch]  # type: ignore[union-attr]
        if worker is None:
            recognizer = self._replay_recognizer()
        else:
            recognizer = self._recognizer
            self._expected_done[worker] = time.monotonic() + self.cost.expected(audio_seconds)
            self._working[worker] = True
        started = time.perf_counter()
        try:
            # A job cancelled meanwhile (an early final the speaker talked over) is not
            # decoded: the check comes after the encoder, the first half of the cost.
            recognitions: list | BaseException = recognizer.recognize_wanted(
                [job.segment.pcm for job in batch],  # type: ignore[union-attr]
                [job.languages for job in batch],
                lambda: [_wanted(job) for job in batch],
            )
        except Exception as error:  # a bad utterance must not kill the worker
            log.exception("recognition failed")
            recognitions = error
        busy = time.perf_counter() - started
        if worker is not None:
            self._working[worker] = False
            # the replays' model runs on what CPU is left: its speed is not the live one's
            if not isinstance(recognitions, BaseException) and None not in recognitions:
                self.cost.observe(audio_seconds, busy)
        for index, job in enumerate(batch):
            assert job.segment is not None and job.loop is not None
            if isinstance(recognitions, BaseException):
                result: Transcript | BaseException = recognitions
            elif (recognition := recognitions[index]) is None:
                if self._on_skipped is not None:
                    self._on_skipped()
                result = asyncio.CancelledError()  # its future is cancelled: nothing to set
            else:
                result = Transcript(job.segment, recognition.text, recognition.lang)
            if worker is not None and job.priority[0] < 2:  # a live final, not a partial
                self._live_busy_s[worker] += busy / len(batch)
            if self._on_done is not None:
                work = (Work.REPLAY if worker is None
                        else Work.PARTIAL if job.priority[0] == 2 else Work.FINAL)
                self._on_done(job.segment.end - job.segment.start, busy / len(batch), work)
            job.loop.call_soon_threadsafe(_resolve, job.future, result)

    def _next_batch(self, delay_s: float = 0.0, worker: int = 0) -> list[_Job] | None:
        """The next live batch for `worker`: see `_batch_from`; a helper's first job is one
        the other workers will not take within `delay_s` (`_helper_may_take`)."""
        return self._batch_from(
            self._queue, lambda job: self._helper_may_take(job, delay_s, worker))

    def _batch_from(
        self, jobs: queue.PriorityQueue[_Job], may_take: Callable[[_Job], bool]
    ) -> list[_Job] | None:
        """Block for the most urgent job that `may_take`, then add
        waiting jobs that fit its encoder window (up to max_batch): one pass over several
        utterances costs much less than one each, above all in the decoder, but a short
        utterance padded to a long one's window does not pay. Jobs that do not fit go back
        in the queue, in their place. None: the worker should stop."""
        first = jobs.get()
        while first.segment is not None and (not _wanted(first) or not may_take(first)):
            if _wanted(first):  # too fresh for a helper: the first worker may take it
                jobs.put(first)
                time.sleep(HELPER_POLL_S)
            first = jobs.get()
        if first.segment is None:
            return None
        window = self._window(first)
        batch, passed_over = [first], []
        while len(batch) < self._max_batch:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                break
            if job.segment is None:
                passed_over.append(job)  # stop after this batch
                break
            if not _wanted(job):
                continue
            if window / WINDOW_SPREAD <= self._window(job) <= window:
                batch.append(job)
            else:
                passed_over.append(job)
        for job in passed_over:
            jobs.put(job)
        return batch

    def _helper_may_take(self, job: _Job, delay_s: float, worker: int) -> bool:
        """The job has waited `delay_s`, or no other worker is expected free within it."""
        now = time.monotonic()
        if now - job.queued_at >= delay_s:
            return True
        others_free_at = min(
            (self._expected_done[n] if self._working[n] else now
             for n in range(len(self._working)) if n != worker),
            default=now,
        )
        return others_free_at - now > delay_s

    def _window(self, job: _Job) -> float:
        assert job.segment is not None
        return self._recognizer.window_for(len(job.segment.pcm) / SAMPLE_RATE)


def _wanted(job: _Job) -> bool:
    return job.future is not None and not job.future.cancelled()


def _fail(batch: list[_Job], error: BaseException) -> None:
    for job in batch:
        assert job.loop is not None and job.future is not None
        job.loop.call_soon_threadsafe(_resolve, job.future, error)


def _resolve(future: asyncio.Future[Transcript], result: Transcript | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
