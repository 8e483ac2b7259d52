"""A live call's recording: the audio of its speakers, buffered per channel and handed to
the store's `RecordingSink` (a WAV file, or chunks in PostgreSQL) about once a second.

The writes run on the service's one recording thread, never in the audio step: a store that
is slow or restarting (a shared PostgreSQL failing over) holds up the recordings, not the
calls' speech detection and recognition. A write that fails is kept in the sink and tried
again with a later second's audio, and at the call's end for up to `RETRY_FOR_S`; the
audio waits in the sink meanwhile (the PostgreSQL sink spools it to disk past a megabyte).
While the store is failing, the recordings share one `WriteGate`: one commit tries the store
every `PROBE_EVERY_S`, and the others only append, so the thread never spends an outage
waiting out the store's timeout once per call and second."""

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
PROBE_EVERY_S = 2.0  # while the store fails, how often one commit tries it


class WriteGate:
    """Whether the store is worth a commit now: closed for `PROBE_EVERY_S` after a failed
    one, open again after a commit succeeds. Used from the recording thread only."""

    def __init__(self) -> None:
        self._closed_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() >= self._closed_until

    def failed(self) -> None:
        self._closed_until = time.monotonic() + PROBE_EVERY_S

    def succeeded(self) -> None:
        self._closed_until = 0.0


class CallRecording:
    """Writes a call's audio as customer (+ operator) channels at the call's own rate."""

    def __init__(self, writer: RecordingSink, layout: list[Channel], executor: Executor,
                 call_id: str = "", gate: WriteGate | None = None) -> None:
        """`gate`: shared by the recordings of one store (see the module)."""
        self.writer = writer
        self.layout = layout
        self.call_id = call_id
        self.pending = {channel: np.zeros(0, dtype=np.int16) for channel in layout}
        self._executor = executor  # one thread: the writes stay in order
        self._failing = False
        self._gate = gate or WriteGate()

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
        store failed or is not tried now (what the sink holds goes with a later block)."""
        try:
            if block is not None:
                self.writer.write(block)
            if not self._gate.open:
                return False
            self.writer.flush()
        except Exception as error:
            self._gate.failed()
            if not self._failing:
                log.warning("call %s: its recording waits for the store (%s: %s)",
                            self.call_id, type(error).__name__, error)
                self._failing = True
            return False
        self._gate.succeeded()
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
