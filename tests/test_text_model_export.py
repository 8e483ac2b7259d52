"""The fine-tuned model as `make install` exports it: ONNX agrees with torch (issue 23)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sentiment_svc.analysis.text_model import (
    DEFAULT_MODEL,
    OnnxTextModel,
    TextModel,
)
from tools.provision.tuned_onnx import TunedModelError, build, is_current

E5_DIR = Path(os.environ["SENTIMENT_MODELS_DIR"]) / "e5-small"
TEXTS = ["Сколько можно ждать, третий раз звоню по одному и тому же!",
         "дякую, ви мені дуже допомогли",
         "подскажите пожалуйста баланс по карте",
         "ну конечно, отличный сервис, неделю жду ответа"]
CONTEXTS = [(), ("O: Добрый день, чем могу помочь?",), (),
            ("C: я писал вам в понедельник", "O: сейчас посмотрю")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(E5_DIR, tmp_path_factory.mktemp("tuned") / "e5-small-tuned").parent


def test_the_onnx_export_reads_as_the_torch_model(exported: Path) -> None:
    torch_readings = TextModel(E5_DIR).read(TEXTS, CONTEXTS)
    onnx_readings = OnnxTextModel(exported).read(TEXTS, CONTEXTS)
    assert is_current(exported)
    for a, b in zip(torch_readings, onnx_readings, strict=True):
        assert np.abs(a.sentiment - b.sentiment).max() < 1e-4
        assert abs(a.complaint - b.complaint) < 1e-4
        assert max(abs(a.categories[k] - b.categories[k]) for k in a.categories) < 1e-4
    # what it reads is a reading, not noise: a repeated complaint is negative, thanks positive
    assert int(np.argmax(onnx_readings[0].sentiment)) == 0 and onnx_readings[0].complaint > 0.5
    assert int(np.argmax(onnx_readings[1].sentiment)) == 2


def test_a_model_file_that_does_not_match_its_hash_is_refused(tmp_path: Path) -> None:
    npz = tmp_path / DEFAULT_MODEL.name
    shutil.copy(DEFAULT_MODEL, npz)
    npz.with_name(npz.name + ".sha256").write_text("0" * 64 + f"  {npz.name}\n")
    with pytest.raises(TunedModelError, match="sha256"):
        build(E5_DIR, tmp_path / "out", npz)
    assert not (tmp_path / "out").exists()


def test_the_service_runs_the_tuned_model_when_asked(exported: Path) -> None:
    from sentiment_svc.analysis.evaluate import FIRST_READING, customer_transcript
    from sentiment_svc.analysis.model_analyzer import ModelAnalyzer
    from sentiment_svc.config import Settings
    from sentiment_svc.pipeline import load_analyzer

    models = exported.parent / "models"
    models.mkdir()
    (models / "e5-small-tuned").symlink_to(exported)
    analyzer = load_analyzer(Settings(models_dir=models, text_model="tuned"))
    assert isinstance(analyzer, ModelAnalyzer)
    (analysis,) = analyzer.analyze([customer_transcript(TEXTS[0], "ru")], [FIRST_READING])
    assert analysis.sentiment.label == "neg" and analysis.categories
