"""Call recordings in PostgreSQL (the `recording_store.Recordings` of `PgCallStore`).

A recording is a ``recordings`` row (rate, channels) and the ``recording_chunks`` the live
call appended: 16-bit little-endian interleaved PCM, one row per flush (about a second, see
`live.recording.RECORDING_WRITE_EVERY_S`), each committed on its own, so any instance reads
the call up to its last second and an instance killed mid-call loses at most that second.
Reading joins the chunks under a WAV header made on the spot; nothing needs repairing after
a crash. Rows go with their call (``ON DELETE CASCADE``).

While the database is unreachable, a call's audio waits for the next flush in a spooled
temporary file: in memory up to `PENDING_IN_MEMORY_BYTES` (half a minute of 8 kHz stereo),
on local disk beyond, so a long outage with many calls costs disk, not the process's memory.
The flush after it commits the backlog in rows of at most `CHUNK_MAX_BYTES`, in one
transaction.

Why PostgreSQL and not S3: see README "PostgreSQL" (one engine to run and back up, chunks
committed in the same database as the call's rows, erasure in one transaction).
"""

from __future__ import annotations

import io
import tempfile
import wave

import numpy as np
from psycopg_pool import ConnectionPool

SAMPLE_WIDTH = 2  # bytes: int16
PENDING_IN_MEMORY_BYTES = 1 << 20
CHUNK_MAX_BYTES = 4 << 20  # a row's most: a long outage's backlog is committed in several


class PgRecordingSink:
    """Appends one call's int16 audio; not thread-safe (one writer per call)."""

    def __init__(self, pool: ConnectionPool, call_id: str, sample_rate: int, channels: int,
                 next_seq: int) -> None:
        self._pool = pool
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = 0
        self._seq = next_seq
        self._pending = _spool()
        self._closed = False

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, pcm_int16: np.ndarray) -> None:
        """Append ``(frames, channels)`` int16 samples (1-D is accepted for mono)."""
        pcm = np.asarray(pcm_int16)
        if pcm.dtype != np.int16:
            raise TypeError(f"recordings take int16 samples, not {pcm.dtype}")
        if pcm.ndim == 1 and self.channels == 1:
            pcm = pcm[:, np.newaxis]
        if pcm.ndim != 2 or pcm.shape[1] != self.channels:
            raise ValueError(f"expected shape (frames, {self.channels}), got {tuple(pcm.shape)}")
        self._pending.write(pcm.astype("<i2", copy=False).tobytes())
        self.frames += pcm.shape[0]

    @property
    def pending_on_disk(self) -> bool:
        """The audio waiting for the database outgrew memory and went to a temporary file."""
        return bool(self._pending._rolled)  # noqa: SLF001 (the spool's own flag)

    def flush(self) -> None:
        """Commit what was written since the last flush: one chunk (several after a long
        outage), all or none."""
        size = self._pending.tell()
        if not size:
            return
        self._pending.seek(0)
        seq = self._seq
        try:
            with self._pool.connection() as conn, conn.transaction():
                while chunk := self._pending.read(CHUNK_MAX_BYTES):
                    conn.execute(
                        "INSERT INTO recording_chunks (call_id, seq, pcm) VALUES (%s, %s, %s)",
                        (self.call_id, seq, chunk),
                    )
                    seq += 1
        except BaseException:
            self._pending.seek(size)  # kept whole for the next flush; writes go on after it
            raise
        self._pending.close()
        self._pending = _spool()
        self._seq = seq

    def close(self) -> None:
        """Commit the rest; safe to call twice."""
        if not self._closed:
            self.flush()
            self._pending.close()
            self._closed = True


def _spool() -> tempfile.SpooledTemporaryFile[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=PENDING_IN_MEMORY_BYTES, prefix="recording-")


class PgRecordings:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def open_writer(self, call_id: str, sample_rate: int, channels: int, *,
                    resume: bool = False) -> PgRecordingSink:
        """Start (or, for a call resumed on another instance, continue) a recording."""
        if channels not in (1, 2):
            raise ValueError(f"a recording has 1 or 2 channels, not {channels}")
        if sample_rate <= 0:
            raise ValueError(f"invalid sample rate {sample_rate}")
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO recordings (call_id, sample_rate, channels) VALUES (%s, %s, %s)"
                " ON CONFLICT (call_id) DO NOTHING",
                (call_id, sample_rate, channels),
            )
            row = conn.execute(
                "SELECT sample_rate, channels, COALESCE(MAX(k.seq) + 1, 0),"
                " COALESCE(SUM(length(k.pcm)), 0) FROM recordings r LEFT JOIN recording_chunks k"
                " USING (call_id) WHERE r.call_id = %s GROUP BY sample_rate, channels",
                (call_id,),
            ).fetchone()
        assert row is not None
        if (row[0], row[1]) != (sample_rate, channels):
            raise ValueError(
                f"call {call_id!r} is recorded at {row[0]} Hz, {row[1]} channels already"
            )
        sink = PgRecordingSink(self._pool, call_id, sample_rate, channels, int(row[2]))
        if resume:  # its duration goes on from what was recorded before
            sink.frames = int(row[3]) // (2 * channels)
        return sink

    def exists(self, call_id: str) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT 1 FROM recordings WHERE call_id = %s", (call_id,))
            return row.fetchone() is not None

    def read(self, call_id: str) -> bytes | None:
        with self._pool.connection() as conn:
            head = conn.execute(
                "SELECT sample_rate, channels FROM recordings WHERE call_id = %s", (call_id,)
            ).fetchone()
            if head is None:
                return None
            chunks = conn.execute(
                "SELECT pcm FROM recording_chunks WHERE call_id = %s ORDER BY seq", (call_id,)
            ).fetchall()
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(head[1])
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(head[0])
            for (pcm,) in chunks:
                wav.writeframesraw(pcm)
        return out.getvalue()

    def delete(self, call_id: str) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute("DELETE FROM recordings WHERE call_id = %s", (call_id,))
            return cur.rowcount > 0

    def repair(self, call_id: str) -> None:
        """Nothing to repair: every committed chunk is whole, and the header is made on read."""
