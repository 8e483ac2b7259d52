"""The shared ASR scheduler: priorities, batches by encoder window, real recognition."""

import asyncio
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sentiment_svc.asr.scheduler import BACKGROUND_MODEL_THREADS, AsrScheduler, CostModel, Work
from sentiment_svc.asr.whisper import AsrConfig, ModelNotFoundError, WhisperRecognizer
from sentiment_svc.audio.decode import load_call
from sentiment_svc.frames import SAMPLE_RATE, Channel, SpeechSegment
from sentiment_svc.threads import LOWEST_PRIORITY
from tests.conftest import real_prompts


def segment(channel: Channel, end: float, seconds: float) -> SpeechSegment:
    pcm = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    return SpeechSegment(channel, end - seconds, end, pcm)


def test_batches_take_the_most_urgent_job_and_only_utterances_that_fit_its_window(engines):
    async def scenario() -> list[list[tuple[str, float]]]:
        scheduler = AsrScheduler(engines.recognizer, workers=0, max_batch=3)
        jobs = [
            (segment(Channel.OPERATOR, 10.0, 2.0), False),
            (segment(Channel.CUSTOMER, 20.0, 3.0), True),  # partial: last
            (segment(Channel.CUSTOMER, 12.0, 14.0), False),  # 15 s window
            (segment(Channel.CUSTOMER, 11.0, 3.0), False),
            (segment(Channel.CUSTOMER, 13.0, 2.0), False),
            (segment(Channel.OPERATOR, 14.0, 2.5), False),
        ]
        tasks = [
            asyncio.ensure_future(scheduler.transcribe(seg, ("ru",), partial=partial))
            for seg, partial in jobs
        ]
        await asyncio.sleep(0)  # every job is queued
        batches = []
        while scheduler.depth:
            batch = scheduler._next_batch()
            assert batch is not None
            batches.append([(job.segment.channel.value, job.segment.end) for job in batch])
        for task in tasks:
            task.cancel()
        return batches

    batches = asyncio.run(scenario())
    # Customer finals first, oldest audio first; the 14 s utterance is not padded into
    # anyone's batch (nor they into its window); operators after; the partial last.
    assert batches == [
        [("customer", 11.0), ("customer", 13.0), ("operator", 10.0)],
        [("customer", 12.0)],
        [("operator", 14.0), ("customer", 20.0)],
    ]


def test_concurrent_utterances_are_all_recognised_in_batches(engines):
    prompts = real_prompts("ru")[:4]
    finished_jobs: list[float] = []

    async def scenario() -> list[str]:
        scheduler = AsrScheduler(
            engines.recognizer, workers=1, max_batch=4,
            on_done=lambda audio_s, busy_s, work: finished_jobs.append(busy_s),
        )
        try:
            segments = []
            for index, (path, _) in enumerate(prompts):
                pcm = load_call(path).customer
                segments.append(SpeechSegment(Channel.CUSTOMER, index, index + 1, pcm))
            transcripts = await asyncio.gather(
                *(scheduler.transcribe(seg, ("ru",)) for seg in segments)
            )
            # The worker goes on after a batch larger than the number of workers.
            again = await asyncio.wait_for(scheduler.transcribe(segments[0], ("ru",)), 60)
            assert again.text == transcripts[0].text
        finally:
            await asyncio.get_running_loop().run_in_executor(None, scheduler.close)
        return [transcript.text for transcript in transcripts]

    texts = asyncio.run(scenario())
    alone = [engines.recognizer.recognize(load_call(path).customer, ("ru",)).text
             for path, _ in prompts]
    assert all(texts)
    # Batched recognition reads the same as one at a time (beam search is deterministic;
    # padding to a shared window may change a word, not the whole utterance).
    assert sum(a == b for a, b in zip(texts, alone, strict=True)) >= 3
    assert len(finished_jobs) == len(prompts) + 1


async def taken_in_order(scheduler: AsrScheduler, tasks: list) -> list[float]:
    """The queued jobs' utterance ends in the order the scheduler hands them out."""
    await asyncio.sleep(0)
    order = []
    while scheduler.depth:
        (job,) = scheduler._next_batch()
        order.append(job.segment.end)
    for task in tasks:
        task.cancel()
    return order


def test_a_tense_call_goes_before_older_audio_of_calm_calls(engines):
    async def scenario() -> list[float]:
        scheduler = AsrScheduler(engines.recognizer, workers=0, max_batch=1)
        jobs = [(segment(Channel.CUSTOMER, 10.0, 2.0), 0),
                (segment(Channel.CUSTOMER, 11.0, 2.0), 2),  # escalated call
                (segment(Channel.CUSTOMER, 9.0, 2.0), 0)]
        tasks = [asyncio.ensure_future(scheduler.transcribe(seg, ("ru",), urgency=urgency))
                 for seg, urgency in jobs]
        return await taken_in_order(scheduler, tasks)

    assert asyncio.run(scenario()) == [11.0, 9.0, 10.0]


def _replay_model_threads() -> list[int]:
    """The nice values of the replays' model's native threads."""
    values = []
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == BACKGROUND_MODEL_THREADS:
                values.append(os.getpriority(os.PRIO_PROCESS, int(task.name)))
        except OSError:  # the thread ended meanwhile
            continue
    return values


def test_replays_run_on_their_own_model_at_the_lowest_priority_and_never_on_a_live_worker(
    engines, settings
):
    """Replays queued on two workers leave both live workers free (a live utterance queued
    meanwhile starts at once, not behind a replay's batch); their model's native threads
    run at nice 19, and their transcripts are the live model's."""
    prompts = real_prompts("ru")[:3]
    pcm = np.concatenate([load_call(path).customer for path, _ in prompts])
    busy: list[int] = []  # live workers recognising, sampled every 5 ms

    async def sample(until: asyncio.Future) -> None:
        while not until.done():
            busy.append(sum(scheduler._working))
            await asyncio.sleep(0.005)

    async def scenario() -> tuple[int, int, list[str]]:
        replays = [asyncio.ensure_future(scheduler.transcribe(
            SpeechSegment(Channel.CUSTOMER, i, i + 1, pcm), ("ru",), background=True))
            for i in range(4)]
        await sample(asyncio.ensure_future(asyncio.sleep(1.0)))
        most_alone = max(busy)
        live = asyncio.ensure_future(scheduler.transcribe(
            SpeechSegment(Channel.CUSTOMER, 10, 11, pcm[: 3 * SAMPLE_RATE]), ("ru",)))
        busy.clear()
        await sample(live)
        replays_left = sum(not replay.done() for replay in replays)
        return most_alone, replays_left, [result.text for result in await asyncio.gather(*replays)]

    def load_replay_model() -> WhisperRecognizer:
        return WhisperRecognizer(settings.whisper_dir, AsrConfig(workers=1, cpu_threads=2))

    works: list[Work] = []
    scheduler = AsrScheduler(engines.recognizer, workers=2, max_batch=1, helper_delay_s=0.1,
                             background_loader=load_replay_model,
                             on_done=lambda audio_s, busy_s, work: works.append(work))
    try:
        most_alone, replays_left, texts = asyncio.run(scenario())
        nice_values = _replay_model_threads()
    finally:
        scheduler.close()
    assert most_alone == 0  # no replay on a live worker
    assert max(busy) >= 1  # the live utterance was recognised at once,
    assert replays_left >= 2  # long before the replays were done
    assert nice_values and set(nice_values) == {LOWEST_PRIORITY}
    assert texts == [engines.recognizer.recognize(pcm, ("ru",)).text] * 4
    assert sorted(works) == sorted([Work.FINAL] + [Work.REPLAY] * 4)  # labelled apart


def test_a_replay_model_that_fails_to_load_fails_the_replays_not_the_live_calls(engines):
    def broken_loader() -> WhisperRecognizer:
        raise ModelNotFoundError("no replay model here")

    async def scenario() -> str:
        with pytest.raises(ModelNotFoundError, match="no replay model"):
            await scheduler.transcribe(segment(Channel.CUSTOMER, 1.0, 1.0), ("ru",),
                                       background=True)
        live = await scheduler.transcribe(
            SpeechSegment(Channel.CUSTOMER, 0, 3, pcm), ("ru",))
        return live.text

    pcm = load_call(real_prompts("ru")[0][0]).customer
    scheduler = AsrScheduler(engines.recognizer, workers=1, background_loader=broken_loader)
    try:
        text = asyncio.run(scenario())
        assert scheduler.workers_alive == 1
    finally:
        scheduler.close()
    assert text and text == engines.recognizer.recognize(pcm, ("ru",)).text


def test_helper_workers_take_only_what_the_first_worker_left_waiting(engines):
    pcms = [load_call(path).customer for path, _ in real_prompts("ru")[:3]]
    workers: list[str] = []

    async def scenario() -> None:
        scheduler = AsrScheduler(
            engines.recognizer, workers=2, max_batch=1, helper_delay_s=0.1,
            on_done=lambda *_: workers.append(threading.current_thread().name),
        )
        try:
            # One at a time: the first worker is free, so the helper never steps in.
            for index, pcm in enumerate(pcms):
                assert scheduler.idle
                job = asyncio.ensure_future(scheduler.transcribe(
                    SpeechSegment(Channel.CUSTOMER, index, index + 1, pcm), ("ru",)
                ))
                await asyncio.sleep(0.05)
                assert not scheduler.idle  # recognising
                await job
            assert scheduler.idle
            assert workers == ["asr-0"] * 3
            # Three at once, one per pass: the helper takes what waits behind the first.
            await asyncio.gather(*(
                scheduler.transcribe(SpeechSegment(Channel.CUSTOMER, 10 + i, 11 + i, pcm),
                                     ("ru",))
                for i, pcm in enumerate(pcms)
            ))
        finally:
            await asyncio.get_running_loop().run_in_executor(None, scheduler.close)

    asyncio.run(scenario())
    assert len(workers) == 6 and "asr-1" in workers[3:]


def test_a_helper_steps_in_at_once_behind_a_long_utterance(engines):
    """The first worker is expected busy for longer than the helper's delay (a long
    utterance): the short one queued behind it starts on the helper without waiting."""
    long_pcm = np.concatenate(
        [load_call(path).customer for path, _ in real_prompts("ru")[:4]]
    )[: 14 * SAMPLE_RATE]
    short_pcm = load_call(real_prompts("ru")[0][0]).customer
    started: list[tuple[str, float]] = []

    async def scenario() -> float:
        scheduler = AsrScheduler(
            engines.recognizer, workers=2, max_batch=1, helper_delay_s=2.0,
            # a cost so high that the long utterance is expected to take minutes
            cost=CostModel(rate=10.0, smoothing=0.0),
            on_batch=lambda size: started.append(
                (threading.current_thread().name, time.monotonic())
            ),
        )
        try:
            long_job = asyncio.ensure_future(scheduler.transcribe(
                SpeechSegment(Channel.OPERATOR, 0, 14, long_pcm), ("ru",)
            ))
            while not started:
                await asyncio.sleep(0.01)
            queued = time.monotonic()
            await scheduler.transcribe(SpeechSegment(Channel.CUSTOMER, 10, 11, short_pcm),
                                       ("ru",))
            await long_job
        finally:
            await asyncio.get_running_loop().run_in_executor(None, scheduler.close)
        return queued

    queued = asyncio.run(scenario())
    assert [name for name, _ in started] == ["asr-0", "asr-1"]
    assert started[1][1] - queued < 1.0  # well before the 2 s delay


def test_the_expected_finish_counts_a_helper_s_delay_and_none_when_it_would_queue(engines):
    long_pcm = np.concatenate(
        [load_call(path).customer for path, _ in real_prompts("ru")[:4]]
    )[: 14 * SAMPLE_RATE]

    async def scenario(workers: int) -> tuple[float | None, float | None]:
        started: list[int] = []
        scheduler = AsrScheduler(
            engines.recognizer, workers=workers, max_batch=1, helper_delay_s=2.0,
            cost=CostModel(rate=10.0, fixed_s=3.0, smoothing=0.0),  # minutes per utterance
            on_batch=started.append,
        )
        try:
            idle = scheduler.expected_finish_s(1.0)
            long_job = asyncio.ensure_future(scheduler.transcribe(
                SpeechSegment(Channel.OPERATOR, 0, 14, long_pcm), ("ru",)
            ))
            while not started or scheduler.idle:  # taken, and the worker marked busy
                await asyncio.sleep(0.01)
            busy = scheduler.expected_finish_s(1.0)
            await long_job
        finally:
            await asyncio.get_running_loop().run_in_executor(None, scheduler.close)
        return idle, busy

    idle, behind_helper = asyncio.run(scenario(workers=2))
    assert idle == pytest.approx(10.0 * 4.0)  # starts at once
    # The first worker is busy for minutes: the helper takes it after its 2 s delay.
    assert behind_helper == pytest.approx(2.0 + 10.0 * 4.0)
    idle, behind_only_worker = asyncio.run(scenario(workers=1))
    assert idle == pytest.approx(40.0) and behind_only_worker is None


def test_the_cost_model_follows_measured_batches():
    cost = CostModel(rate=0.1, fixed_s=3.0, smoothing=0.5)
    assert cost.expected([1.0, 2.0]) == pytest.approx(0.1 * (4.0 + 5.0))
    cost.observe([3.0], busy_s=0.3)  # measured 0.05 s per unit of work
    assert cost.rate == pytest.approx(0.075)
    for _ in range(20):
        cost.observe([3.0], busy_s=0.3)
    assert cost.rate == pytest.approx(0.05, rel=1e-3)


def test_an_error_in_the_bookkeeping_fails_its_batch_not_the_worker(engines):
    pcm = load_call(real_prompts("ru")[0][0]).customer
    failures = [RuntimeError("metrics broke")]

    def on_done(*_) -> None:
        if failures:
            raise failures.pop()

    async def scenario() -> str:
        scheduler = AsrScheduler(engines.recognizer, workers=1, on_done=on_done)
        try:
            with pytest.raises(RuntimeError, match="metrics broke"):
                await asyncio.wait_for(
                    scheduler.transcribe(SpeechSegment(Channel.CUSTOMER, 0, 1, pcm), ("ru",)), 60
                )
            again = await asyncio.wait_for(
                scheduler.transcribe(SpeechSegment(Channel.CUSTOMER, 1, 2, pcm), ("ru",)), 60
            )
        finally:
            await asyncio.get_running_loop().run_in_executor(None, scheduler.close)
        return again.text

    assert asyncio.run(scenario())


def test_a_job_cancelled_during_its_encoder_pass_is_not_decoded(engines):
    """An early final the speaker talked over is cancelled while the worker is busy with
    it: it is counted as skipped, the other utterance is still recognised, the worker and
    its cost model go on."""
    pcms = [load_call(path).customer for path, _ in real_prompts("ru")[:2]]
    skipped: list[int] = []

    async def scenario() -> tuple[bool, str, str]:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task] = []
        cancelled = threading.Event()

        def cancel_first() -> None:
            tasks[0].cancel()  # cancels the future it awaits at once
            cancelled.set()

        def on_batch(size: int) -> None:  # worker thread, before the recognition pass
            if not cancelled.is_set():
                loop.call_soon_threadsafe(cancel_first)
                assert cancelled.wait(10)

        scheduler = AsrScheduler(
            engines.recognizer, workers=1, max_batch=2, on_batch=on_batch,
            on_skipped=lambda: skipped.append(1),
        )
        rate = scheduler.cost.rate
        try:
            for index, pcm in enumerate(pcms):
                segment = SpeechSegment(Channel.CUSTOMER, index, index + 1, pcm)
                tasks.append(asyncio.ensure_future(scheduler.transcribe(segment, ("ru",))))
            kept = await asyncio.wait_for(tasks[1], 60)
            again = await asyncio.wait_for(scheduler.transcribe(
                SpeechSegment(Channel.CUSTOMER, 5, 6, pcms[0]), ("ru",)
            ), 60)
            assert scheduler.cost.rate != rate  # learnt from the whole batches only
        finally:
            await loop.run_in_executor(None, scheduler.close)
        return tasks[0].cancelled(), kept.text, again.text

    first_cancelled, kept, again = asyncio.run(scenario())
    assert first_cancelled and skipped == [1]
    assert kept == engines.recognizer.recognize(pcms[1], ("ru",)).text
    assert again == engines.recognizer.recognize(pcms[0], ("ru",)).text
