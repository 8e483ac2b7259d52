"""The audio stage's clock: one step every 50 ms and one worker-thread hand-off per step for
all live calls.

Each call's VAD task gathers what arrived, waits for the shared step (`step`), then hands its
step of work (recording, resampling, endpointing) to `run`. What the calls hand in during
one step goes to the audio worker threads as one job (up to `MAX_JOB` calls a job), not one
job per call: a hand-off wakes a thread and the event loop and costs about as much CPU as a
step of one call's VAD. Each call's work still succeeds or fails on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

# Audio gathered before each VAD step. Telephony sends 20 ms frames; a worker-thread
# hand-off per frame cost more CPU in the event loop than the VAD itself. Adds at most this
# much to the endpointing delay.
STEP_S = 0.05
MAX_JOB = 16  # calls' work per worker-thread job: more calls use more threads


class AudioTicker:
    def __init__(self, executor: Executor, period_s: float = STEP_S) -> None:
        self._executor = executor
        self._period_s = period_s
        self._tick: asyncio.Future[None] | None = None
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self.jobs = 0  # worker-thread jobs started

    async def step(self) -> None:
        """Return at the next step boundary, the same one for every caller."""
        loop = asyncio.get_running_loop()
        if self._tick is None or self._tick.done():
            self._tick = loop.create_future()
            loop.call_later(self._period_s, _finish, self._tick)
        await asyncio.shield(self._tick)  # one caller cancelled must not cancel the step

    async def run(self, work: Callable[[], Any]) -> Any:
        """`work()` in an audio worker thread, in one job with the other calls' work handed in
        during this turn of the event loop; its result or its exception, to this caller."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._start_jobs)  # after the other calls woken by this step
        self._pending.append((work, future))
        return await future

    def _start_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        pending, self._pending = self._pending, []
        for first in range(0, len(pending), MAX_JOB):
            batch = pending[first : first + MAX_JOB]
            self.jobs += 1
            try:
                job = loop.run_in_executor(self._executor, _run_each, [w for w, _ in batch])
            except RuntimeError as error:  # the executor is shut down: the service is stopping
                _deliver(batch, [error] * len(batch))
                continue
            job.add_done_callback(lambda done, batch=batch: _deliver_job(batch, done))


def _run_each(works: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = []
    for work in works:
        try:
            results.append(work())
        except Exception as error:  # this call's problem, not its neighbours'
            results.append(error)
    return results


def _deliver_job(
    batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]], job: asyncio.Future[list[Any]]
) -> None:
    if job.cancelled():
        _deliver(batch, [asyncio.CancelledError()] * len(batch))
    elif job.exception() is not None:
        _deliver(batch, [job.exception()] * len(batch))
    else:
        _deliver(batch, job.result())


def _deliver(batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]], results: list) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():  # its caller was cancelled
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _finish(tick: asyncio.Future[None]) -> None:
    if not tick.done():
        tick.set_result(None)
