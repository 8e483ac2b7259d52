"""Decoding recorded calls: files in, 16 kHz float32 PCM per channel out.

libsndfile (soundfile) reads WAV (PCM, μ-law, A-law), FLAC, OGG and MP3; anything else
(AAC, M4A, ...) goes through FFmpeg (PyAV, already a faster-whisper dependency).
Resampling is soxr's. Every failure is an `AudioDecodeError` with a one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import soundfile
import soxr

from sentiment_svc.frames import SAMPLE_RATE

_TRUNCATED_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class AudioDecodeError(ValueError):
    """The input is not audio we can read; the message is one line meant for a person."""


class CustomerChannel(StrEnum):
    """Which channel of the recording carries the customer."""

    MONO = "mono"  # one channel (or a mix): all of it is the customer
    LEFT = "left"  # stereo: left customer, right operator
    RIGHT = "right"  # stereo: right customer, left operator


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # (frames, channels) float32 in [-1, 1]
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sample_rate

    @property
    def channels(self) -> int:
        return self.samples.shape[1]


@dataclass(frozen=True)
class CallChannels:
    """A call split by speaker, each 16 kHz mono float32."""

    customer: np.ndarray
    operator: np.ndarray | None
    duration: float


def decode_file(path: Path) -> DecodedAudio:
    """Read an audio file at its own rate and channel count."""
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: empty file")
    try:
        info = soundfile.info(str(path))
    except soundfile.LibsndfileError:
        return _decode_with_ffmpeg(path)
    truncated = _TRUNCATED_DATA.search(info.extra_info or "")
    if truncated:
        declared, present = int(truncated.group(1)), int(truncated.group(2))
        raise AudioDecodeError(
            f"{path}: truncated WAV: the header declares {declared} bytes of audio,"
            f" the file holds {present}"
        )
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioDecodeError(f"{path}: cannot decode audio: {error}") from None
    if samples.shape[0] == 0:
        raise AudioDecodeError(f"{path}: the file holds no audio samples")
    return DecodedAudio(samples=samples, sample_rate=int(rate))


def _decode_with_ffmpeg(path: Path) -> DecodedAudio:
    import av  # deferred: only formats libsndfile cannot read need FFmpeg

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path}: not an audio file (no audio stream)")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            channels = stream.codec_context.channels
            resampler = av.AudioResampler(format="flt", layout=stream.layout.name, rate=rate)
            chunks = []
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray().reshape(-1, channels))
    except av.FFmpegError:
        raise AudioDecodeError(f"{path}: not a recognised audio format") from None
    if not chunks:
        raise AudioDecodeError(f"{path}: the file holds no audio samples")
    return DecodedAudio(samples=np.concatenate(chunks).astype(np.float32), sample_rate=rate)


def resample_to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample one channel (1-D) to 16 kHz with soxr's high-quality filter."""
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(samples, dtype=np.float32)
    return soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)


def split_channels(audio: DecodedAudio, customer: CustomerChannel) -> CallChannels:
    """Keep customer and operator apart; a mono request on a stereo file mixes it down."""
    if customer is CustomerChannel.MONO:
        mixed = audio.samples.mean(axis=1)
        return CallChannels(resample_to_16k(mixed, audio.sample_rate), None, audio.duration)
    if audio.channels != 2:
        raise AudioDecodeError(
            f"--customer-channel {customer.value} needs a stereo file;"
            f" this one has {audio.channels} channel(s)"
        )
    customer_index = 0 if customer is CustomerChannel.LEFT else 1
    return CallChannels(
        customer=resample_to_16k(audio.samples[:, customer_index], audio.sample_rate),
        operator=resample_to_16k(audio.samples[:, 1 - customer_index], audio.sample_rate),
        duration=audio.duration,
    )


def load_call(path: Path, customer: CustomerChannel = CustomerChannel.MONO) -> CallChannels:
    return split_channels(decode_file(path), customer)
