"""The audio stage's shared clock: one step and one worker-thread job for many calls, each
call's result or failure its own."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sentiment_svc.live import ticker as ticker_module
from sentiment_svc.live.ticker import AudioTicker


def test_calls_woken_by_one_step_share_one_worker_job():
    threads: list[int] = []

    async def call(ticker: AudioTicker, number: int) -> int:
        await ticker.step()

        def work() -> int:
            threads.append(threading.get_ident())
            return number * 10

        return await ticker.run(work)

    async def scenario() -> tuple[list[int], int, float]:
        with ThreadPoolExecutor(4) as executor:
            ticker = AudioTicker(executor, period_s=0.05)
            started = time.monotonic()
            results = await asyncio.gather(*(call(ticker, n) for n in range(12)))
            return results, ticker.jobs, time.monotonic() - started

    results, jobs, elapsed = asyncio.run(scenario())
    assert results == [n * 10 for n in range(12)]
    assert jobs == 1 and len(set(threads)) == 1
    assert elapsed < 1.0  # one 50 ms step, not one per call


def test_many_calls_are_spread_over_several_jobs(monkeypatch):
    monkeypatch.setattr(ticker_module, "MAX_JOB", 4)

    async def scenario() -> tuple[list[int], int]:
        with ThreadPoolExecutor(2) as executor:
            ticker = AudioTicker(executor)
            results = await asyncio.gather(*(ticker.run(lambda n=n: n) for n in range(10)))
            return results, ticker.jobs

    assert asyncio.run(scenario()) == (list(range(10)), 3)


def test_one_calls_failure_is_its_own_and_a_cancelled_call_does_not_stop_the_step():
    async def scenario() -> tuple[str, int]:
        with ThreadPoolExecutor(1) as executor:
            ticker = AudioTicker(executor)

            def broken() -> int:
                raise ValueError("bad audio")

            gone = asyncio.ensure_future(ticker.step())
            waiting = asyncio.ensure_future(ticker.step())
            await asyncio.sleep(0)
            gone.cancel()  # a call that ends mid-step
            await waiting  # the others still get their step
            failed, fine = await asyncio.gather(
                ticker.run(broken), ticker.run(lambda: 7), return_exceptions=True
            )
            assert ticker.jobs == 1
            return str(failed), fine

    assert asyncio.run(scenario()) == ("bad audio", 7)


def test_work_handed_in_after_shutdown_gets_a_clear_error():
    async def scenario() -> None:
        executor = ThreadPoolExecutor(1)
        executor.shutdown()
        ticker = AudioTicker(executor)
        with pytest.raises(RuntimeError, match="shutdown"):
            await ticker.run(lambda: 1)

    asyncio.run(scenario())
