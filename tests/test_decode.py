from pathlib import Path

import numpy as np
import pytest
import soundfile

from sentiment_svc.audio.decode import (
    AudioDecodeError,
    CustomerChannel,
    decode_file,
    load_call,
)
from sentiment_svc.frames import SAMPLE_RATE
from tests.conftest import ANGRY_CALL, CALM_CALL


def test_reads_flac_and_wav_at_their_own_rate():
    flac = decode_file(CALM_CALL)
    wav = decode_file(ANGRY_CALL)
    assert flac.sample_rate == wav.sample_rate == 8000
    assert flac.duration == pytest.approx(50.76, abs=0.01)
    assert wav.channels == 1


@pytest.mark.parametrize("fmt,subtype", [("WAV", "ULAW"), ("WAV", "ALAW"), ("OGG", "VORBIS"),
                                         ("MP3", "MPEG_LAYER_III"), ("FLAC", "PCM_16")])
def test_telephone_and_compressed_formats_decode_to_the_same_speech(tmp_path, fmt, subtype):
    original = decode_file(ANGRY_CALL)
    target = tmp_path / f"call.{fmt.lower()}"
    soundfile.write(target, original.samples, original.sample_rate, format=fmt, subtype=subtype)
    decoded = load_call(target)
    reference = load_call(ANGRY_CALL)
    assert abs(len(decoded.customer) - len(reference.customer)) < SAMPLE_RATE // 10
    n = min(len(decoded.customer), len(reference.customer))
    if fmt in ("WAV", "FLAC"):  # sample-aligned codecs: the waveform itself must match
        correlation = np.corrcoef(decoded.customer[:n], reference.customer[:n])[0, 1]
        assert correlation > 0.99


def test_resamples_to_16k():
    call = load_call(ANGRY_CALL)
    assert len(call.customer) == pytest.approx(call.duration * SAMPLE_RATE, abs=2)
    assert call.customer.dtype == np.float32
    assert call.operator is None


def test_stereo_keeps_channels_apart(tmp_path):
    left = decode_file(ANGRY_CALL).samples[:, 0]
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, 8000)
    as_left = load_call(path, CustomerChannel.LEFT)
    as_right = load_call(path, CustomerChannel.RIGHT)
    assert np.abs(as_left.customer).max() > 0.1 and np.abs(as_left.operator).max() == 0
    assert np.abs(as_right.customer).max() == 0 and np.abs(as_right.operator).max() > 0.1


def test_stereo_request_on_mono_file_is_a_clear_error():
    with pytest.raises(AudioDecodeError, match="needs a stereo file"):
        load_call(ANGRY_CALL, CustomerChannel.LEFT)


def _truncated(tmp_path: Path) -> Path:
    data = ANGRY_CALL.read_bytes()
    path = tmp_path / "truncated.wav"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda tmp: tmp / "missing.wav", "no such file"),
        (lambda tmp: (tmp / "empty.wav").write_bytes(b"") and None or tmp / "empty.wav",
         "empty file"),
        (lambda tmp: (tmp / "notes.wav").write_text("not audio at all\n" * 20) and None
         or tmp / "notes.wav", "not a recognised audio format"),
        (_truncated, "truncated WAV"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, make, message):
    with pytest.raises(AudioDecodeError, match=message) as error:
        decode_file(make(tmp_path))
    assert "\n" not in str(error.value)
