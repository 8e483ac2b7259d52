"""A call's timeline: protocol events in, audio laid out by the platform's clock out.

Sans-I/O: no sockets, tasks, threads or clocks. The ingest session feeds each event the
adapter produced, in order, with the wall-clock time it arrived (`now`, seconds on any
monotonic clock); `Timeline.feed` returns the audio to push to the `LiveCall`.

Each `AudioChunk` carries ``t``, when its first frame was heard by the platform's clock
(`protocols.base`). Audio is kept per stream: one per speaker for mono per-track chunks
(Twilio's two tracks), one for interleaved chunks (``channel`` None, every column at once).
A stream's next chunk is expected where its audio so far ends; against that:

- a forward gap over `JITTER_S` becomes silence on that stream (zeros on every column of an
  interleaved stream), so a speaker whose track lost audio stays aligned with the other;
- audio that starts before the stream's end by more than `JITTER_S` is trimmed by the
  overlap, never placed twice; over `MAX_OVERLAP_S` the platform's clock went back, and the
  stream continues from where it ended (a clock reset: counted, logged once);
- differences within `JITTER_S` are ignored: the chunk is placed at the end;
- one gap inserts at most `MAX_GAP_S` of silence: a longer one (a bogus timestamp) is
  clamped, counted and logged once, and the stream's later audio keeps its place relative
  to the clamped chunk. Silence goes out in pieces of at most `SILENCE_PIECE_S`, made as
  they are taken, so even the longest gap holds one piece in memory.

Pause and resume. Where a protocol's clock runs through a pause, its stamps already place
the audio after it: a `Resume` with ``clocked`` adds nothing. Where it does not, the time
from the `Pause` to the `Resume` (by `now`) is added to every later stamp, so the next
chunk leaves that much silence (bounded like any gap). Per protocol:

- Twilio: ``t`` is each track's ``media.timestamp`` (ms from the stream start), which runs
  through everything; Twilio has no pause events (a hold keeps sending audio).
- AudioHook: ``t`` is the stream position: frames received plus the audio the client
  reported discarded (``discarded``, and ``resumed``'s ``discarded`` for a pause). A
  ``resumed`` that reports discarded audio is clocked; one that reports none (a client
  whose position stood still while paused) is not, so the pause's wall-clock time is used.
  Audio while paused is refused by the adapter (a protocol error).
- native (``/v1/ingest``): no clock, ``t`` counts frames; ``pause``/``resume`` messages
  make unclocked pauses, and audio after a ``pause`` resumes the call implicitly.
- audio_fork (jambonz / mod_audio_fork): no clock, ``t`` counts frames, no pauses.
- Asterisk (chan_websocket, AudioSocket): no clock, ``t`` counts each leg's frames from the
  call time the leg joined at (`live.legs`); no pauses (chan_websocket's XOFF/XON throttle
  the other direction).

Audio that arrives between a `Pause` and a `Resume` ends the pause without adding any pause
silence (its own ``t`` is taken as it comes; a later `Resume` does nothing): the platform
is sending audio, so it was not paused, and a clocked stamp must not be counted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sentiment_svc.frames import Channel
from sentiment_svc.protocols.base import AudioChunk, CallStart, Pause, ProtocolEvent, Resume

log = logging.getLogger(__name__)

JITTER_S = 0.04  # two 20 ms frames: smaller differences from the expected place are ignored
MAX_GAP_S = 300.0  # the most silence one gap (or one pause) inserts: a long hold
MAX_OVERLAP_S = 1.0  # audio earlier than this before a stream's end means its clock went back
SILENCE_PIECE_S = 1.0  # inserted silence goes out in chunks of at most this

StreamKey = Channel | None  # a speaker's mono track, or None: the interleaved stream


@dataclass
class TimelineStats:
    """What the timeline corrected, for logs and tests. Seconds of the call's audio."""

    gaps: int = 0  # forward gaps filled with silence
    silence_s: float = 0.0  # silence inserted, for gaps and pauses
    clamped: int = 0  # gaps longer than MAX_GAP_S
    trimmed_s: float = 0.0  # overlapping audio dropped
    clock_resets: int = 0  # stamps that went back more than MAX_OVERLAP_S
    paused_s: float = 0.0  # wall-clock pause time added to the timeline
    audio_while_paused: int = 0  # chunks that arrived between a Pause and a Resume


class Timeline:
    def __init__(self, start: CallStart) -> None:
        self.call_id = start.call_id
        self.rate = start.sample_rate
        self._jitter = round(JITTER_S * self.rate)
        self._max_gap = round(MAX_GAP_S * self.rate)
        self._max_overlap = round(MAX_OVERLAP_S * self.rate)
        self._piece = max(1, round(SILENCE_PIECE_S * self.rate))
        self._end: dict[StreamKey, int] = {}  # frames laid out so far, per stream
        self._offset: dict[StreamKey, int] = {}  # frames added to a stream's stamps
        self._shift = 0  # frames added to every stamp: unclocked pauses
        self._paused_at: float | None = None
        self.stats = TimelineStats()

    @property
    def position_s(self) -> float:
        """Where the call is now: the end of the audio laid out furthest."""
        return max(self._end.values(), default=0) / self.rate

    def end_s(self, key: StreamKey) -> float:
        """The end of one stream's audio so far, in seconds."""
        return self._end.get(key, 0) / self.rate

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def feed(self, event: ProtocolEvent, now: float) -> Iterator[AudioChunk]:
        """Take one event; returns the audio to push, in order. The timeline's state has
        moved on when this returns: the silence pieces are only made as they are taken."""
        if isinstance(event, AudioChunk):
            return self._place(event)
        if isinstance(event, Pause):
            self.pause(now)
        elif isinstance(event, Resume):
            self.resume(now, clocked=event.clocked)
        return iter(())

    def pause(self, now: float) -> None:
        if self._paused_at is None:
            self._paused_at = now

    def resume(self, now: float, clocked: bool = False) -> None:
        if self._paused_at is None:
            return  # not paused (or audio already ended the pause)
        paused_s, self._paused_at = max(0.0, now - self._paused_at), None
        if clocked:
            return
        frames = round(paused_s * self.rate)
        if frames > self._max_gap:
            self._clamped(frames, "a pause")
            frames = self._max_gap
        self._shift += frames
        self.stats.paused_s += frames / self.rate

    # -- placing audio -----------------------------------------------------------------

    def _place(self, chunk: AudioChunk) -> Iterator[AudioChunk]:
        if self._paused_at is not None:
            self._paused_at = None
            self.stats.audio_while_paused += 1
        key = chunk.channel
        pcm = chunk.pcm
        end = self._end.get(key, 0)
        start = self._stamp(chunk.t) + self._shift + self._offset.get(key, 0)
        gap = start - end
        if abs(gap) <= self._jitter:
            gap = 0
        elif gap > self._max_gap:
            self._clamped(gap, f"the {key or 'interleaved'} stream")
            self._offset[key] = self._offset.get(key, 0) - (gap - self._max_gap)
            gap = self._max_gap
        elif -gap > self._max_overlap:
            self.stats.clock_resets += 1
            if self.stats.clock_resets == 1:
                log.warning("call %s: the %s stream's clock went back %.2f s; continuing",
                            self.call_id, key or "interleaved", -gap / self.rate)
            self._offset[key] = self._offset.get(key, 0) - gap
            gap = 0
        elif gap < 0:
            self.stats.trimmed_s += min(-gap, len(pcm)) / self.rate
            pcm = pcm[-gap:]
            gap = 0
        if gap:
            self.stats.gaps += 1
            self.stats.silence_s += gap / self.rate
        self._end[key] = end + gap + len(pcm)
        return self._output(end, gap, key, pcm)

    def _output(self, end: int, gap: int, channel: Channel | None, pcm: np.ndarray
                ) -> Iterator[AudioChunk]:
        width = pcm.shape[1]  # 1 for a track, the call's channels for interleaved audio
        for offset in range(0, gap, self._piece):
            frames = min(self._piece, gap - offset)
            yield AudioChunk(np.zeros((frames, width), np.int16), channel,
                             (end + offset) / self.rate)
        if len(pcm):
            yield AudioChunk(pcm, channel, (end + gap) / self.rate)

    def _stamp(self, t: float) -> int:
        """A chunk's ``t`` in frames; not-a-number or negative stamps count as 0."""
        frames = t * self.rate
        if not frames > 0:  # NaN too
            return 0
        return round(min(frames, 2.0**62))

    def _clamped(self, frames: int, what: str) -> None:
        self.stats.clamped += 1
        if self.stats.clamped == 1:
            log.warning("call %s: a %.0f s gap in %s; inserting %.0f s of silence at most",
                        self.call_id, frames / self.rate, what, MAX_GAP_S)
