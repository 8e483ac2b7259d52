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


def test_a_call_s_utterances_are_read_with_its_latest_turns(exported: Path) -> None:
    """With the tuned model and a context budget (SENTIMENT_TEXT_CONTEXT_TOKENS) the call
    pipeline gives each utterance the call's last turns, customer's and operator's, as the
    model was trained (all 48 tokens by default); with none (0) each is read on its own."""
    from sentiment_svc.alerts.policy import Policy
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.model_analyzer import ModelAnalyzer
    from sentiment_svc.analysis.text_model import CONTEXT_TURNS, MAX_CONTEXT_TOKENS
    from sentiment_svc.frames import Channel, SpeechSegment, Transcript
    from sentiment_svc.pipeline import CallPipeline, Engines

    turns = [(Channel.CUSTOMER, "я писал вам в понедельник"),
             (Channel.OPERATOR, "сейчас посмотрю"),
             (Channel.CUSTOMER, "ну конечно, отличный сервис, неделю жду ответа")]
    silence = np.zeros(1600, dtype=np.float32)
    transcripts = [Transcript(SpeechSegment(channel, n, n + 0.1, silence), text, "ru")
                   for n, (channel, text) in enumerate(turns)]

    def negative_readings(context_tokens: int) -> list[float]:
        model = OnnxTextModel(exported, context_tokens=context_tokens)
        analyzer = ModelAnalyzer(model, ComplaintLexicon.load())
        assert analyzer.reads_context == (context_tokens > 0)
        pipeline = CallPipeline(Engines(None, analyzer, Policy.load(), None))  # type: ignore[arg-type]
        return [event.sentiment.neg for t in transcripts for event in pipeline.analyze([t])
                if hasattr(event, "sentiment")]

    model = OnnxTextModel(exported)
    context = ("C: я писал вам в понедельник", "O: сейчас посмотрю")[-CONTEXT_TURNS:]
    (first,) = model.read([turns[0][1]])
    (with_turns,) = model.read([turns[2][1]], [context])
    (alone,) = model.read([turns[2][1]])
    assert abs(float(with_turns.sentiment[0]) - float(alone.sentiment[0])) > 1e-4
    read = negative_readings(MAX_CONTEXT_TOKENS)
    assert read[0] == pytest.approx(float(first.sentiment[0]), abs=1e-6)
    assert read[2] == pytest.approx(float(with_turns.sentiment[0]), abs=1e-6)
    assert negative_readings(0)[2] == pytest.approx(float(alone.sentiment[0]), abs=1e-6)


def test_only_the_customer_s_words_go_through_the_model(exported: Path) -> None:
    """An operator's utterance keeps its lexicon categories (an apology addresses an alert)
    but costs no model reading: its sentiment is neutral."""
    from sentiment_svc.analysis.analyzer import NEUTRAL
    from sentiment_svc.analysis.evaluate import FIRST_READING
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.model_analyzer import ModelAnalyzer
    from sentiment_svc.frames import Channel, SpeechSegment, Transcript

    class CountingModel(OnnxTextModel):
        texts: list[str] = []

        def read(self, texts, contexts=None):  # type: ignore[no-untyped-def]
            self.texts.extend(texts)
            return super().read(texts, contexts)

    silence = np.zeros(1600, dtype=np.float32)
    turns = [(Channel.CUSTOMER, "ну конечно, отличный сервис, неделю жду ответа"),
             (Channel.OPERATOR, "приносим извинения за ожидание, сейчас всё проверю")]
    transcripts = [Transcript(SpeechSegment(channel, n, n + 0.1, silence), text, "ru")
                   for n, (channel, text) in enumerate(turns)]
    model = CountingModel(exported)
    customer, operator = ModelAnalyzer(model, ComplaintLexicon.load()).analyze(
        transcripts, [FIRST_READING] * 2)
    assert model.texts == [turns[0][1]]
    assert customer.sentiment.label == "neg" and customer.complaint
    assert operator.sentiment == NEUTRAL and operator.complaint is None
    assert "operator_apologised" in operator.categories
