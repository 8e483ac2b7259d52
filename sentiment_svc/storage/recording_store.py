"""Where call recordings go: the small interface the live call writes through and REST and
replay read through, and its file backend (the embedded default).

- `RecordingSink`: one call's writer. ``write`` appends int16 frames, ``flush`` makes what
  was written durable and readable by others (the live call flushes about once a second,
  so a killed instance loses at most that second), ``close`` finishes the recording.
- `Recordings`: opens sinks, says whether a call has a recording, reads one back as a whole
  WAV, deletes one, and repairs one a dead writer left (after a crash).

`FileRecordings` keeps ``<data_dir>/recordings/<call_id>.wav`` (`recordings.RecordingWriter`
and `recordings.repair_wav`); `pg_recordings.PgRecordings` keeps chunks in PostgreSQL, where
every instance of a cluster reads them. The call store owns its recordings (``store.
recordings``), so erasure and retention delete them with the call.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile

from sentiment_svc.storage.recordings import RecordingWriter, repair_wav

log = logging.getLogger(__name__)

_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RecordingSink(Protocol):
    sample_rate: int
    channels: int
    frames: int

    def write(self, pcm_int16: np.ndarray) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Recordings(Protocol):
    def open_writer(self, call_id: str, sample_rate: int, channels: int, *,
                    resume: bool = False) -> RecordingSink:
        """Start a call's recording; `resume`: continue the one it has (a call resumed on
        another instance), whose length the sink's `duration` then starts from."""
        ...

    def exists(self, call_id: str) -> bool: ...

    def read(self, call_id: str) -> bytes | None:
        """The whole recording as a 16-bit PCM WAV, or None if the call has none."""
        ...

    def delete(self, call_id: str) -> bool: ...

    def repair(self, call_id: str) -> None:
        """Make what a writer that died left readable (a no-op where nothing can break)."""
        ...


class FileRecordings:
    """One WAV file per call in `directory` (today's layout)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, call_id: str) -> Path:
        """Where the call's WAV lives; call ids unsafe as file names are hashed."""
        if _SAFE_FILE_NAME.fullmatch(call_id) and ".." not in call_id:
            name = call_id
        else:  # "_" cannot start a safe name, so a hashed name never collides with one
            name = "_" + hashlib.sha256(call_id.encode()).hexdigest()[:40]
        return self.directory / f"{name}.wav"

    def open_writer(self, call_id: str, sample_rate: int, channels: int, *,
                    resume: bool = False) -> RecordingWriter:
        path = self.path(call_id)
        if resume and path.exists():  # repaired first: its writer may have been killed
            try:
                repair_wav(path)
                info = soundfile.info(str(path))
                if info.samplerate == sample_rate and info.channels == channels:
                    return RecordingWriter(path, sample_rate, channels, append=True)
                log.warning("call %s's recording has another format; starting it again",
                            call_id)
            except (OSError, ValueError, RuntimeError) as error:
                log.warning("cannot append to call %s's recording (%s); starting it again",
                            call_id, error)
        return RecordingWriter(path, sample_rate, channels)

    def exists(self, call_id: str) -> bool:
        return self.path(call_id).exists()

    def read(self, call_id: str) -> bytes | None:
        try:
            return self.path(call_id).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, call_id: str) -> bool:
        path = self.path(call_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def repair(self, call_id: str) -> None:
        path = self.path(call_id)
        if path.exists():
            try:
                repair_wav(path)
            except (OSError, ValueError) as exc:
                log.warning("cannot repair the recording of call %s: %s", call_id, exc)
