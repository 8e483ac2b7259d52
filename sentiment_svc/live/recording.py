"""A live call's recording: the audio of its speakers, buffered per channel and handed to
the store's `RecordingSink` (a WAV file, or chunks in PostgreSQL) about once a second.

The writes run on the service's one recording thread, never in the audio step: a store that
is slow or restarting (a shared PostgreSQL failing over) holds up the recordings, not the
calls' speech detection and recognition. A write that fails is kept in the sink and tried
again with the next second's audio, and at the call's end for up to `RETRY_FOR_S`; the
audio waits in memory meanwhile (about 32 kB per call-second of 8 kHz stereo)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor, Future

import numpy as np

from sentiment_svc.domain.vocabulary import Channel
from sentiment_svc.storage.recording_store import RecordingSink

log = logging.getLogger(__name__)

RECORDING_WRITE_EVERY_S = 1.0  # a killed process loses at most this much of a recording
RETRY_FOR_S = 60.0  # at the call's end, how long a failing store is waited for
RETRY_EVERY_S = 0.5


class CallRecording:
    """Writes a call's audio as customer (+ operator) channels at the call's own rate."""

    def __init__(self, writer: RecordingSink, layout: list[Channel], executor: Executor,
                 call_id: str = "") -> None:
        self.writer = writer
        self.layout = layout
        self.call_id = call_id
        self.pending = {channel: np.zeros(0, dtype=np.int16) for channel in layout}
        self._executor = executor  # one thread: the writes stay in order
        self._failing = False

    def add(self, parts: list[tuple[Channel, np.ndarray]]) -> None:
        """Append arrived audio. It goes to the sink once a second's worth is here (one
        write and flush a second, not one per 50 ms batch); the recording is readable after
        each (a valid WAV file, or a committed chunk), and a killed process loses at most
        that second."""
        for channel, pcm in parts:
            if channel in self.pending:
                self.pending[channel] = np.concatenate([self.pending[channel], pcm])
        ready = min(len(buffer) for buffer in self.pending.values())
        if ready >= self.writer.sample_rate * RECORDING_WRITE_EVERY_S:
            self._executor.submit(self._write, self._take(ready))

    def close(self) -> Future[None]:
        """Write the rest and close the sink, once the call's audio has stopped; done when
        the recording thread has (or has given up after `RETRY_FOR_S` of a failing store)."""
        longest = max(len(buffer) for buffer in self.pending.values())
        for channel, buffer in self.pending.items():
            self.pending[channel] = np.pad(buffer, (0, longest - len(buffer)))
        return self._executor.submit(self._finish, self._take(longest) if longest else None)

    def _take(self, frames: int) -> np.ndarray:
        block = np.stack([self.pending[channel][:frames] for channel in self.layout], axis=1)
        for channel in self.layout:
            self.pending[channel] = self.pending[channel][frames:]
        return block

    def _write(self, block: np.ndarray | None) -> bool:
        """Recording thread: append the block and commit what the sink holds; False if the
        store failed (what it holds is tried again with the next block)."""
        try:
            if block is not None:
                self.writer.write(block)
            self.writer.flush()
        except Exception as error:
            if not self._failing:
                log.warning("call %s: its recording waits for the store (%s: %s)",
                            self.call_id, type(error).__name__, error)
                self._failing = True
            return False
        if self._failing:
            log.warning("call %s: its recording is written again", self.call_id)
            self._failing = False
        return True

    def _finish(self, block: np.ndarray | None) -> None:
        deadline = time.monotonic() + RETRY_FOR_S
        written = self._write(block)
        while not written and time.monotonic() < deadline:
            time.sleep(RETRY_EVERY_S)
            written = self._write(None)
        if not written:
            log.error("call %s: the store failed for %.0f s; the end of its recording is lost",
                      self.call_id, RETRY_FOR_S)
        try:
            self.writer.close()
        except Exception:
            log.exception("call %s: its recording could not be closed", self.call_id)
