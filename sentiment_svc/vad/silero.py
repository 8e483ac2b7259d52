"""Streaming speech endpointing with the Silero VAD model that ships inside faster-whisper.

`SileroModel` wraps the ONNX session and is shared by every call (onnxruntime sessions are
safe to run from several threads). `SpeechSegmenter` is per call and channel: feed it PCM as it
arrives, get back finished `SpeechSegment`s. It holds only the recurrent state and the
audio of the utterance in progress, so a live call and a file run through the same code.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import numpy as np

from sentiment_svc.frames import SAMPLE_RATE, Channel, SpeechSegment

WINDOW = 512  # samples per VAD decision at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees


@dataclass(frozen=True)
class VadConfig:
    # Telephone audio (8 kHz, band-limited) gives lower speech probabilities than wideband;
    # 0.4 kept the bundled narrow-band prompts whole where 0.5 clipped word onsets.
    threshold: float = 0.4
    neg_threshold: float = 0.25
    min_silence_ms: int = 500  # an utterance ends after this much silence
    min_speech_ms: int = 250  # shorter blips are dropped
    speech_pad_ms: int = 200  # kept on both sides of detected speech
    max_utterance_s: float = 15.0  # a monologue is cut into utterances of at most this
    # Audio whose peak stays below this, outside an utterance, is silence without asking the
    # model: a channel muted by its phone or cut by silence suppression is digital silence
    # for half the call, and the model costs about 0.1 ms a window. None: always ask.
    silence_gate_dbfs: float | None = -55.0


@dataclass
class _RecurrentState:
    h: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), dtype=np.float32))
    c: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), dtype=np.float32))
    context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, dtype=np.float32))


class SileroModel:
    """The ONNX Silero VAD v6 network, one session for the whole process."""

    def __init__(self, path: str | None = None) -> None:
        import onnxruntime
        from faster_whisper.utils import get_assets_path

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            path or os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
            providers=["CPUExecutionProvider"],
            sess_options=options,
        )

    def probabilities(self, state: _RecurrentState, pcm: np.ndarray) -> np.ndarray:
        """Speech probability per 512-sample window; `pcm` length is a multiple of 512."""
        windows = pcm.reshape(-1, WINDOW)
        previous = np.concatenate([state.context[None, :], windows[:-1, -CONTEXT:]])
        batch = np.concatenate([previous, windows], axis=1)
        output, state.h, state.c = self._session.run(
            None, {"input": batch, "h": state.h, "c": state.c}
        )
        state.context = windows[-1, -CONTEXT:].copy()
        return np.asarray(output, dtype=np.float32).reshape(-1)


@functools.lru_cache(maxsize=1)
def shared_model() -> SileroModel:
    return SileroModel()


class SpeechSegmenter:
    """Endpointing state machine for one channel of one call."""

    def __init__(
        self, channel: Channel, config: VadConfig | None = None, model: SileroModel | None = None
    ) -> None:
        self.channel = channel
        self.config = config or VadConfig()
        self._model = model or shared_model()
        self._state = _RecurrentState()
        self._pending = np.zeros(0, dtype=np.float32)  # < one window, not yet scored
        self._buffer = np.zeros(0, dtype=np.float32)  # audio kept for the utterance
        self._buffer_start = 0  # sample index of _buffer[0]
        self._position = 0  # samples scored so far
        self._speech_start: int | None = None
        self._silence_start: int | None = None
        ms = SAMPLE_RATE // 1000
        self._pad = self.config.speech_pad_ms * ms
        self._min_silence = self.config.min_silence_ms * ms
        self._min_speech = self.config.min_speech_ms * ms
        self._max_utterance = int(self.config.max_utterance_s * SAMPLE_RATE)
        gate = self.config.silence_gate_dbfs
        self._gate_peak = None if gate is None else 10 ** (gate / 20)
        self.windows_gated = 0  # windows judged silent without the model

    @property
    def in_speech(self) -> bool:
        return self._speech_start is not None

    @property
    def silence_s(self) -> float:
        """Seconds of silence so far inside the utterance in progress (0 in speech or
        between utterances)."""
        if self._speech_start is None or self._silence_start is None:
            return 0.0
        return (self._position - self._silence_start) / SAMPLE_RATE

    @property
    def position(self) -> float:
        """Seconds of this channel scored so far."""
        return self._position / SAMPLE_RATE

    def feed(self, pcm: np.ndarray) -> list[SpeechSegment]:
        """Add 16 kHz float32 audio; return the utterances that ended inside it."""
        audio = np.concatenate([self._pending, pcm.astype(np.float32, copy=False)])
        usable = len(audio) - len(audio) % WINDOW
        self._pending = audio[usable:]
        if usable == 0:
            return []
        scored = audio[:usable]
        self._buffer = np.concatenate([self._buffer, scored])
        segments = []
        for index, probability in enumerate(self._probabilities(scored)):
            window_start = self._position + index * WINDOW
            segment = self._step(float(probability), window_start)
            if segment is not None:
                segments.append(segment)
        self._position += usable
        self._trim_buffer()
        return segments

    def _probabilities(self, scored: np.ndarray) -> np.ndarray:
        gate = self._gate_peak
        if gate is not None and self._speech_start is None and np.abs(scored).max() < gate:
            # The model starts afresh after it, as at the start of a call.
            self._state = _RecurrentState()
            self.windows_gated += len(scored) // WINDOW
            return np.zeros(len(scored) // WINDOW, dtype=np.float32)
        return self._model.probabilities(self._state, scored)

    def open_span(self) -> tuple[float, float] | None:
        """(start, end) seconds of `open_utterance()`, without copying its audio."""
        if self._speech_start is None:
            return None
        first = max(self._speech_start - self._pad, self._buffer_start)
        return first / SAMPLE_RATE, self._position / SAMPLE_RATE

    def open_utterance(self) -> SpeechSegment | None:
        """The utterance still being spoken, so far (for interim transcripts)."""
        if self._speech_start is None:
            return None
        first = max(self._speech_start - self._pad, self._buffer_start)
        pcm = self._buffer[first - self._buffer_start :].copy()
        return SpeechSegment(self.channel, first / SAMPLE_RATE, self._position / SAMPLE_RATE, pcm)

    def ending_span(self) -> tuple[float, float] | None:
        """(start, end) seconds of `ending_utterance()`, without copying its audio."""
        bounds = self._ending_bounds()
        if bounds is None:
            return None
        first, last = self._padded(*bounds)
        return first / SAMPLE_RATE, last / SAMPLE_RATE

    def flush(self) -> list[SpeechSegment]:
        """End of the call: close an utterance still open. Speech cut off by the end keeps
        the audio too short for one more VAD window: a hang-up often follows the last word."""
        if self._speech_start is None:
            return []
        if self._silence_start is not None:
            end = self._silence_start
        else:
            self._buffer = np.concatenate([self._buffer, self._pending])
            self._position += len(self._pending)
            self._pending = np.zeros(0, dtype=np.float32)
            end = self._position
        segment = self._emit(self._speech_start, end)
        return [segment] if segment is not None else []

    def _step(self, probability: float, window_start: int) -> SpeechSegment | None:
        config = self.config
        window_end = window_start + WINDOW
        if self._speech_start is None:
            if probability >= config.threshold:
                self._speech_start = window_start
                self._silence_start = None
            return None
        if probability >= config.threshold:
            self._silence_start = None
        elif probability < config.neg_threshold and self._silence_start is None:
            self._silence_start = window_start
        silence = 0 if self._silence_start is None else window_end - self._silence_start
        if silence >= self._min_silence:
            return self._emit(self._speech_start, self._silence_start)  # type: ignore[arg-type]
        if window_end - self._speech_start >= self._max_utterance:
            segment = self._emit(self._speech_start, window_end, pad_end=False)
            self._speech_start = window_end  # the monologue goes on in a new utterance
            return segment
        return None

    def ending_utterance(self) -> SpeechSegment | None:
        """The utterance that the silence under way will end, as it will be emitted: once
        the silence is as long as the end padding, that audio is final unless speech
        resumes. Recognising it then rather than after `min_silence_ms` saves the rest of
        the wait."""
        bounds = self._ending_bounds()
        return None if bounds is None else self._segment(*bounds)

    def _ending_bounds(self) -> tuple[int, int] | None:
        start, silence = self._speech_start, self._silence_start
        if start is None or silence is None or self._position - silence < self._pad:
            return None
        if silence - start < self._min_speech:
            return None
        return start, silence

    def _emit(self, start: int, end: int, pad_end: bool = True) -> SpeechSegment | None:
        self._speech_start = None
        self._silence_start = None
        if end - start < self._min_speech:
            return None
        return self._segment(start, end, pad_end)

    def _padded(self, start: int, end: int, pad_end: bool = True) -> tuple[int, int]:
        first = max(start - self._pad, self._buffer_start)
        last = min(end + self._pad, self._buffer_start + len(self._buffer)) if pad_end else end
        return first, last

    def _segment(self, start: int, end: int, pad_end: bool = True) -> SpeechSegment:
        first, last = self._padded(start, end, pad_end)
        pcm = self._buffer[first - self._buffer_start : last - self._buffer_start].copy()
        return SpeechSegment(
            channel=self.channel, start=first / SAMPLE_RATE, end=last / SAMPLE_RATE, pcm=pcm
        )

    def _trim_buffer(self) -> None:
        keep_from = self._position - self._pad - self._min_silence
        if self._speech_start is not None:
            keep_from = min(keep_from, self._speech_start - self._pad)
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
