"""A live call's recording is written on the recording thread, never in the audio step: a
store that fails (a shared PostgreSQL restarting) holds the audio until it answers again,
in order, and the audio step neither waits for it nor sees its errors."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sentiment_svc.domain.vocabulary import Channel
from sentiment_svc.live import recording as recording_module
from sentiment_svc.live.recording import CallRecording, WriteGate

RATE = 8000


class FlakySink:
    """A RecordingSink whose commits fail while `down` is set, keeping what was written (as
    the PostgreSQL sink keeps its pending chunk), and block while `slow` is clear."""

    def __init__(self) -> None:
        self.sample_rate, self.channels = RATE, 2
        self.pending: list[np.ndarray] = []
        self.committed: list[np.ndarray] = []
        self.down = threading.Event()
        self.slow = threading.Event()
        self.slow.set()
        self.failures = 0
        self.closed = False

    @property
    def duration(self) -> float:
        return sum(len(block) for block in self.committed + self.pending) / RATE

    def write(self, pcm_int16: np.ndarray) -> None:
        self.pending.append(pcm_int16)

    def flush(self) -> None:
        self.slow.wait()
        if self.down.is_set():
            self.failures += 1
            raise ConnectionError("the database is restarting")
        self.committed += self.pending
        self.pending = []

    def close(self) -> None:
        self.flush()
        self.closed = True


def second(value: int) -> list[tuple[Channel, np.ndarray]]:
    audio = np.full(RATE, value, dtype=np.int16)
    return [(Channel.CUSTOMER, audio), (Channel.OPERATOR, -audio)]


def test_a_store_outage_delays_the_recording_and_loses_none_of_it(caplog, monkeypatch):
    monkeypatch.setattr(recording_module, "RETRY_EVERY_S", 0.01)
    monkeypatch.setattr(recording_module, "PROBE_EVERY_S", 0.05)
    sink = FlakySink()
    with ThreadPoolExecutor(1) as executor:
        recording = CallRecording(sink, [Channel.CUSTOMER, Channel.OPERATOR], executor, "c1")
        recording.add(second(1))
        sink.down.set()
        recording.add(second(2))  # the audio step goes on: no error, no wait
        recording.add(second(3))
        executor.submit(lambda: None).result()  # the recording thread has tried them
        # the first failure closes the gate: the next second is only appended
        assert sink.failures == 1 and len(sink.committed) == 1
        threading.Timer(0.1, sink.down.clear).start()
        recording.close().result(timeout=10)  # retried until the store answers
    assert sink.closed
    stacked = np.concatenate(sink.committed)
    assert stacked[:, 0].tolist() == [1] * RATE + [2] * RATE + [3] * RATE
    assert stacked[:, 1].tolist() == [-1] * RATE + [-2] * RATE + [-3] * RATE
    assert "its recording waits for the store" in caplog.text
    assert "its recording is written again" in caplog.text


def test_during_an_outage_one_commit_probes_the_store_for_all_the_calls(monkeypatch):
    """Twenty calls' recordings on one thread while the store is down, each failed commit
    taking 50 ms (a connection timeout): the gate lets one commit try the store per probe
    interval instead of one per call and second, so the thread keeps up with the audio;
    once the store is back, every call's audio is committed, in order."""
    monkeypatch.setattr(recording_module, "PROBE_EVERY_S", 0.2)
    monkeypatch.setattr(recording_module, "RETRY_EVERY_S", 0.01)
    sinks = [FlakySink() for _ in range(20)]
    for sink in sinks:
        sink.down.set()
        sink.flush = _slow_when_down(sink.flush)  # type: ignore[method-assign]
    gate = WriteGate()
    with ThreadPoolExecutor(1) as executor:
        recordings = [CallRecording(sink, [Channel.CUSTOMER, Channel.OPERATOR], executor,
                                    f"call-{n}", gate) for n, sink in enumerate(sinks)]
        for value in range(10):  # ten seconds of audio for each of the twenty calls
            for recording in recordings:
                recording.add(second(value))
        executor.submit(lambda: None).result(timeout=10)
        assert sum(sink.failures for sink in sinks) <= 3
        for sink in sinks:
            sink.down.clear()
        for recording in recordings:
            recording.close().result(timeout=10)
    for sink in sinks:
        assert sink.closed
        assert np.concatenate(sink.committed)[:, 0].tolist() == [
            value for value in range(10) for _ in range(RATE)]


def _slow_when_down(flush):
    def slow_flush() -> None:
        if flush.__self__.down.is_set():
            time.sleep(0.05)
        flush()
    return slow_flush


def test_a_slow_store_never_holds_up_the_audio_step():
    sink = FlakySink()
    sink.slow.clear()  # every commit hangs until released
    with ThreadPoolExecutor(1) as executor:
        recording = CallRecording(sink, [Channel.CUSTOMER, Channel.OPERATOR], executor, "c2")
        for value in range(5):
            recording.add(second(value))  # returns at once although nothing is committed
        assert sink.committed == []
        sink.slow.set()
        recording.close().result(timeout=10)
    assert len(np.concatenate(sink.committed)) == 5 * RATE


def test_a_store_that_stays_down_loses_only_the_end_and_says_so(caplog, monkeypatch):
    monkeypatch.setattr(recording_module, "RETRY_FOR_S", 0.05)
    monkeypatch.setattr(recording_module, "RETRY_EVERY_S", 0.01)
    sink = FlakySink()
    sink.down.set()
    with ThreadPoolExecutor(1) as executor:
        recording = CallRecording(sink, [Channel.CUSTOMER, Channel.OPERATOR], executor, "c3")
        recording.add(second(1))
        recording.close().result(timeout=10)  # gives up; the call's end is not held forever
    assert sink.committed == [] and not sink.closed
    assert "the end of its recording is lost" in caplog.text
    assert "could not be closed" in caplog.text


@pytest.mark.parametrize("frames", [RATE // 2, RATE + 100])
def test_what_is_left_at_the_end_is_padded_to_the_longer_channel(frames):
    sink = FlakySink()
    with ThreadPoolExecutor(1) as executor:
        recording = CallRecording(sink, [Channel.CUSTOMER, Channel.OPERATOR], executor, "c4")
        recording.add([(Channel.CUSTOMER, np.ones(frames, dtype=np.int16))])
        recording.close().result(timeout=10)
    stacked = np.concatenate(sink.committed)
    assert len(stacked) == frames and stacked[:, 1].tolist() == [0] * frames
