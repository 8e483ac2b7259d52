"""Call recordings: writing a call's audio as it arrives, and repairing a WAV after a crash.

A recording is 16-bit PCM WAV at the call's own sample rate, one or two channels
(``<data_dir>/recordings/<call_id>.wav``, see `CallStore.recording_path`). libsndfile writes
samples straight through to the file; only the RIFF header's sizes wait for `close()`. So:

- `RecordingWriter.flush()` rewrites the header with the current sizes (the file on disk is
  then a valid WAV of everything written so far) and ``fsync``s at most every
  ``sync_interval`` seconds (power loss loses at most that much; a killed process loses
  only what was written after the last flush, and even that `repair_wav` recovers).
- `repair_wav(path)` fixes the RIFF and data chunk sizes of a WAV whose header was not
  finalised and returns its duration; run it on the recordings of interrupted calls.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile

_SFC_UPDATE_HEADER_NOW = 0x1060  # libsndfile's sf_command: rewrite the header now


class RecordingWriter:
    """Appends int16 audio of one call to a WAV file; not thread-safe (one writer per call)."""

    def __init__(
        self, path: Path, sample_rate: int, channels: int, *, sync_interval: float = 1.0,
        append: bool = False,
    ) -> None:
        """`append`: continue an existing WAV of the same format (a resumed call)."""
        if channels not in (1, 2):
            raise ValueError(f"a recording has 1 or 2 channels, not {channels}")
        if sample_rate <= 0:
            raise ValueError(f"invalid sample rate {sample_rate}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self.sync_interval = sync_interval
        self.frames = 0
        self._last_sync = time.monotonic()
        if append:
            self._file = soundfile.SoundFile(path, mode="r+")
            self.frames = self._file.seek(0, soundfile.SEEK_END)
        else:
            self._file = soundfile.SoundFile(
                path, mode="w", samplerate=sample_rate, channels=channels,
                format="WAV", subtype="PCM_16",
            )

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, pcm_int16: np.ndarray) -> None:
        """Append ``(frames, channels)`` int16 samples (1-D is accepted for mono)."""
        pcm = np.asarray(pcm_int16)
        if pcm.dtype != np.int16:
            raise TypeError(f"recordings take int16 samples, not {pcm.dtype}")
        if pcm.ndim == 1 and self.channels == 1:
            pcm = pcm[:, np.newaxis]
        if pcm.ndim != 2 or pcm.shape[1] != self.channels:
            raise ValueError(
                f"expected shape (frames, {self.channels}), got {tuple(pcm.shape)}"
            )
        self._file.write(pcm)
        self.frames += pcm.shape[0]

    def flush(self) -> None:
        """Make the file on disk a valid WAV of everything written so far; fsync if due."""
        _update_header(self._file)
        now = time.monotonic()
        if now - self._last_sync >= self.sync_interval:
            self._file.flush()  # libsndfile's sf_write_sync: fsync
            self._last_sync = now

    def close(self) -> None:
        """Finalise the header and close; safe to call twice."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _update_header(file: soundfile.SoundFile) -> None:
    """libsndfile's SFC_UPDATE_HEADER_NOW, through soundfile's cffi handle (soundfile does
    not wrap it). Without it the header stays stale until close; `repair_wav` then fixes it."""
    snd = getattr(soundfile, "_snd", None)
    ffi = getattr(soundfile, "_ffi", None)
    handle = getattr(file, "_file", None)
    if snd is not None and ffi is not None and handle is not None:
        snd.sf_command(handle, _SFC_UPDATE_HEADER_NOW, ffi.NULL, 0)


def repair_wav(path: Path) -> float:
    """Fix the RIFF and ``data`` chunk sizes of a WAV whose writer died; return its duration.

    A well-formed file (RIFF size matches the file, data chunk inside it) is left as it is.
    Otherwise the ``data`` chunk is taken to run to the end of the file, cut down to whole
    frames (a torn last frame is truncated away), and both sizes are rewritten in place.
    Raises `ValueError` for a file that is not a PCM WAV with ``fmt `` and ``data`` chunks.
    """
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a RIFF/WAVE file")
        riff_size = struct.unpack("<I", header[4:8])[0]
        rate = block_align = 0
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"fmt ":
                fmt = handle.read(min(chunk_size, 16))
                if len(fmt) < 16:
                    raise ValueError(f"{path}: truncated fmt chunk")
                _, _, rate, _, block_align = struct.unpack("<HHIIH", fmt[:14])
            elif chunk_id == b"data":
                if rate <= 0 or block_align <= 0:
                    raise ValueError(f"{path}: data chunk before a valid fmt chunk")
                data_start = offset + 8
                complete = riff_size == size - 8 and data_start + chunk_size <= size
                if complete and chunk_size > 0:
                    return (chunk_size // block_align) / rate
                data_size = (size - data_start) // block_align * block_align
                handle.truncate(data_start + data_size)
                handle.seek(offset + 4)
                handle.write(struct.pack("<I", data_size))
                handle.seek(4)
                handle.write(struct.pack("<I", data_start + data_size - 8))
                handle.flush()
                os.fsync(handle.fileno())
                return (data_size // block_align) / rate
            offset += 8 + chunk_size + (chunk_size & 1)
        raise ValueError(f"{path}: no data chunk")
