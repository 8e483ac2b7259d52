"""A live call's recording: the audio of its speakers, buffered per channel and handed to
the store's `RecordingSink` (a WAV file, or chunks in PostgreSQL) about once a second."""

from __future__ import annotations

import numpy as np

from sentiment_svc.domain.vocabulary import Channel
from sentiment_svc.storage.recording_store import RecordingSink

RECORDING_WRITE_EVERY_S = 1.0  # a killed process loses at most this much of a recording


class CallRecording:
    """Writes a call's audio as customer (+ operator) channels at the call's own rate."""

    def __init__(self, writer: RecordingSink, layout: list[Channel]) -> None:
        self.writer = writer
        self.layout = layout
        self.pending = {channel: np.zeros(0, dtype=np.int16) for channel in layout}

    def add(self, parts: list[tuple[Channel, np.ndarray]]) -> None:
        """Append arrived audio. It reaches the sink once a second's worth is here (one
        write and flush a second, not one per 50 ms batch); the recording is readable after
        each (a valid WAV file, or a committed chunk), and a killed process loses at most
        that second."""
        for channel, pcm in parts:
            if channel in self.pending:
                self.pending[channel] = np.concatenate([self.pending[channel], pcm])
        ready = min(len(buffer) for buffer in self.pending.values())
        if ready >= self.writer.sample_rate * RECORDING_WRITE_EVERY_S:
            self._write(ready)

    def close(self) -> None:
        longest = max(len(buffer) for buffer in self.pending.values())
        for channel, buffer in self.pending.items():
            self.pending[channel] = np.pad(buffer, (0, longest - len(buffer)))
        if longest:
            self._write(longest)
        self.writer.close()

    def _write(self, frames: int) -> None:
        block = np.stack([self.pending[channel][:frames] for channel in self.layout], axis=1)
        for channel in self.layout:
            self.pending[channel] = self.pending[channel][frames:]
        self.writer.write(block)
        self.writer.flush()
