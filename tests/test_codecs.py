"""G.711 and L16 codecs, checked against libsndfile's ULAW/ALAW codec on real speech."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from sentiment_svc.audio.codecs import (
    ALAW_DECODE,
    ULAW_DECODE,
    CodecError,
    Encoding,
    decode,
    deinterleave,
    encode,
)
from tests.conftest import ANGRY_CALL

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def libsndfile_raw(pcm: np.ndarray, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, 8000, format="RAW", subtype=subtype)
    return buffer.getvalue()


def libsndfile_decode(raw: bytes, subtype: str, channels: int = 1) -> np.ndarray:
    pcm, _ = soundfile.read(io.BytesIO(raw), format="RAW", subtype=subtype, samplerate=8000,
                            channels=channels, dtype="int16", always_2d=True)
    return pcm


@pytest.mark.parametrize("encoding,subtype,table,peak", [
    (Encoding.MULAW, "ULAW", ULAW_DECODE, 32124), (Encoding.ALAW, "ALAW", ALAW_DECODE, 32256)])
def test_decode_tables_equal_libsndfile_for_every_code(encoding, subtype, table, peak):
    every_code = bytes(range(256))
    assert np.array_equal(decode(every_code, encoding, 1), libsndfile_decode(every_code, subtype))
    assert table.shape == (256,) and table.dtype == np.int16 and not table.flags.writeable
    assert table.max() == peak and table.min() == -peak


@pytest.mark.parametrize("encoding,subtype", [(Encoding.MULAW, "ULAW"), (Encoding.ALAW, "ALAW")])
def test_encoder_agrees_with_libsndfile_but_for_rounding_at_segment_edges(encoding, subtype):
    ours = np.frombuffer(encode(ALL_INT16, encoding), dtype=np.uint8)
    theirs = np.frombuffer(libsndfile_raw(ALL_INT16, subtype), dtype=np.uint8)
    differ = ours != theirs
    assert differ.mean() < 0.01
    # where they differ, both codes decode to neighbours around the input
    table = ULAW_DECODE if encoding is Encoding.MULAW else ALAW_DECODE
    ours_value, theirs_value = table[ours[differ]].astype(int), table[theirs[differ]].astype(int)
    x = ALL_INT16[differ].astype(int)
    assert np.all(np.minimum(ours_value, theirs_value) <= x + 1)
    assert np.all(np.maximum(ours_value, theirs_value) >= x - 1)


@pytest.mark.parametrize("encoding,subtype", [(Encoding.MULAW, "ULAW"), (Encoding.ALAW, "ALAW")])
def test_real_speech_survives_g711_within_half_a_step(encoding, subtype):
    speech, _ = soundfile.read(ANGRY_CALL, dtype="int16")
    their_round_trip = decode(libsndfile_raw(speech, subtype), encoding, 1)[:, 0]
    our_round_trip = decode(encode(speech, encoding), encoding, 1)[:, 0]
    for decoded in (their_round_trip, our_round_trip):
        error = decoded.astype(float) - speech
        assert np.all(np.abs(error) <= np.abs(speech) / 32 + 16)
        assert 10 * np.log10((speech.astype(float) ** 2).sum() / (error**2).sum()) > 35


def test_every_code_round_trips_through_its_decoded_value():
    for encoding, table in ((Encoding.MULAW, ULAW_DECODE), (Encoding.ALAW, ALAW_DECODE)):
        codes = np.frombuffer(encode(table, encoding), dtype=np.uint8)
        redecoded = table[codes]
        assert np.array_equal(redecoded, table)  # μ-law 0x7F (-0) comes back as 0xFF (+0)


def test_l16_both_byte_orders_and_interleaving():
    stereo = np.array([[1, -2], [300, -32768], [32767, 0]], dtype=np.int16)
    little, big = stereo.astype("<i2").tobytes(), stereo.astype(">i2").tobytes()
    assert np.array_equal(decode(little, "pcm16", 2), stereo)
    assert np.array_equal(decode(big, Encoding.PCM16_BE, 2), stereo)
    assert encode(stereo, "pcm16") == little and encode(stereo, "pcm16be") == big
    left, right = deinterleave(decode(little, "pcm16", 2))
    assert left.tolist() == [1, 300, 32767] and right.tolist() == [-2, -32768, 0]
    out = decode(little, "pcm16", 2)
    out[0, 0] = 5  # the caller owns the result
    assert decode(b"", "mulaw", 2).shape == (0, 2)


@pytest.mark.parametrize("payload,encoding,channels,message", [
    (b"\x00\x01\x02", "pcm16", 1, "odd-length"),
    (b"\x00" * 6, "pcm16", 2, "whole 2-channel frames"),
    (b"\x00" * 3, "alaw", 2, "whole 2-channel frames"),
    (b"\x00", "opus", 1, "unknown audio encoding"),
    (b"\x00", "mulaw", 0, "outside 1..8"),
    (b"\x00", "mulaw", True, "must be an integer"),
    ("text", "mulaw", 1, "must be bytes"),
])
def test_malformed_payloads_raise_codec_error(payload, encoding, channels, message):
    with pytest.raises(CodecError, match=message):
        decode(payload, encoding, channels)


def test_encode_refuses_non_int16():
    with pytest.raises(CodecError, match="int16"):
        encode(np.zeros(4, dtype=np.float32), "mulaw")
