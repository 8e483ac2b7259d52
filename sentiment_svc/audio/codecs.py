"""Telephone payload codecs: G.711 μ-law / A-law and 16-bit linear PCM to int16, and back.

Pure functions over bytes and numpy arrays, used by the live protocol adapters. G.711 is
decoded through 256-entry lookup tables and encoded through 65,536-entry tables, all built
once at import from the ITU-T G.711 reference algorithm (the classic Sun Microsystems
``g711.c``). The tests check them against libsndfile's ULAW/ALAW codec: decoding is
identical for all 256 codes; libsndfile's encoder rounds to the nearest output level where
``g711.c`` uses the G.711 decision levels, so the two encoders differ by one code step on
well under 1% of inputs, at segment edges. Interleaved
multi-channel payloads come back as ``(frames, channels)`` int16 arrays. Malformed input
(an odd-length PCM16 payload, a payload that does not hold whole frames, a bad channel
count, an unknown encoding) raises `CodecError` with a one-line message.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

MAX_CHANNELS = 8


class CodecError(ValueError):
    """The payload cannot be decoded as the encoding says; the message is one line."""


class Encoding(StrEnum):
    PCM16 = "pcm16"  # signed 16-bit little-endian linear PCM (L16 as WebSockets carry it)
    PCM16_BE = "pcm16be"  # signed 16-bit big-endian linear PCM (RTP audio/L16, RFC 3551)
    MULAW = "mulaw"  # G.711 μ-law (PCMU)
    ALAW = "alaw"  # G.711 A-law (PCMA)


BYTES_PER_SAMPLE = {
    Encoding.PCM16: 2,
    Encoding.PCM16_BE: 2,
    Encoding.MULAW: 1,
    Encoding.ALAW: 1,
}


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, magnitude)  # first segment whose end >= magnitude
    uval = (seg << 4) | ((magnitude >> (seg + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return _index_by_uint16(((uval ^ mask) & 0xFF).astype(np.uint8))


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, magnitude)
    mantissa = np.where(seg < 2, magnitude >> 1, magnitude >> np.maximum(seg, 1)) & 0x0F
    aval = np.where(seg >= 8, 0x7F, (seg << 4) | mantissa)
    return _index_by_uint16(((aval ^ mask) & 0xFF).astype(np.uint8))


def _index_by_uint16(by_value: np.ndarray) -> np.ndarray:
    """Reorder a table indexed by int16 value + 32768 so int16.view(uint16) indexes it."""
    return np.roll(by_value, -32768)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()
for _table in (ULAW_DECODE, ALAW_DECODE, _ULAW_ENCODE, _ALAW_ENCODE):
    _table.flags.writeable = False


def decode(payload: bytes, encoding: Encoding | str, channels: int) -> np.ndarray:
    """Decode one payload to int16 samples of shape ``(frames, channels)``.

    ``payload`` holds whole interleaved frames (channel 0 first); an empty payload gives
    ``(0, channels)``. The result owns its memory and is writable.
    """
    encoding = _encoding(encoding)
    _check_channels(channels)
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise CodecError(f"audio payload must be bytes, not {type(payload).__name__}")
    data = bytes(payload)
    width = BYTES_PER_SAMPLE[encoding]
    if width == 2 and len(data) % 2:
        raise CodecError(f"odd-length {encoding.value} payload ({len(data)} bytes): "
                         "16-bit PCM needs an even number of bytes")
    frame_bytes = width * channels
    if len(data) % frame_bytes:
        raise CodecError(f"{encoding.value} payload of {len(data)} bytes does not hold whole "
                         f"{channels}-channel frames of {frame_bytes} bytes")
    if encoding is Encoding.MULAW:
        samples = ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    elif encoding is Encoding.ALAW:
        samples = ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    else:
        dtype = "<i2" if encoding is Encoding.PCM16 else ">i2"
        samples = np.frombuffer(data, dtype=dtype).astype(np.int16)
    return samples.reshape(-1, channels)


def encode(pcm: np.ndarray, encoding: Encoding | str) -> bytes:
    """Encode int16 samples (any shape; ``(frames, channels)`` is interleaved) to bytes."""
    encoding = _encoding(encoding)
    samples = np.asarray(pcm)
    if samples.dtype != np.int16:
        raise CodecError(f"encode needs int16 samples, not {samples.dtype}")
    flat = np.ascontiguousarray(samples).reshape(-1)
    if encoding is Encoding.MULAW:
        return _ULAW_ENCODE[flat.view(np.uint16)].tobytes()
    if encoding is Encoding.ALAW:
        return _ALAW_ENCODE[flat.view(np.uint16)].tobytes()
    return flat.astype("<i2" if encoding is Encoding.PCM16 else ">i2").tobytes()


def deinterleave(pcm: np.ndarray) -> list[np.ndarray]:
    """Split ``(frames, channels)`` samples into one contiguous 1-D array per channel."""
    if pcm.ndim != 2:
        raise CodecError(f"expected (frames, channels) samples, got shape {pcm.shape}")
    return [np.ascontiguousarray(pcm[:, index]) for index in range(pcm.shape[1])]


def _encoding(encoding: Encoding | str) -> Encoding:
    try:
        return Encoding(encoding)
    except ValueError:
        known = ", ".join(e.value for e in Encoding)
        raise CodecError(f"unknown audio encoding {encoding!r} (known: {known})") from None


def _check_channels(channels: int) -> None:
    if isinstance(channels, bool) or not isinstance(channels, int):
        raise CodecError(f"channel count must be an integer, not {channels!r}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise CodecError(f"channel count {channels} is outside 1..{MAX_CHANNELS}")
