"""`eval-text`: metrics, a small corpus file, the bundled dev split, and that what it scores
is what the live pipeline makes of each utterance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sentiment_svc.analysis import text_encoder
from sentiment_svc.analysis.corpus import ACTIONS, BUNDLED, COLUMNS, CorpusError
from sentiment_svc.analysis.evaluate import (
    accuracy,
    binary_f1,
    confusion_matrix,
    eval_text,
    evaluate,
    load_items,
    macro_f1,
    service_predictions,
)
from sentiment_svc.analysis.sentiment import DEFAULT_HEAD, SentimentHead
from sentiment_svc.frames import SAMPLE_RATE, Alert, Channel, SpeechSegment, Transcript
from sentiment_svc.pipeline import CallPipeline

# On the dev split: issue 5's sentiment targets (met), and floors a little under what the
# service scores for complaint (0.693) and action (0.624) with each utterance heard on its own
# (BENCHMARKS.md). Issue 5's complaint (0.85) and action (0.75) targets were met by separate
# heads the service never ran, removed in issue 22; the service does not meet them.
DEV_TARGETS = {
    ("ru", "sentiment_f1"): 0.85,
    ("uk", "sentiment_f1"): 0.80,
    ("all", "complaint_f1"): 0.67,
    ("all", "action_acc"): 0.60,
}
SCORE_KEYS = {"sentiment_f1", "complaint_f1", "action_acc"}

SMALL = [  # new sentences, not in the bundled corpus
    ("t-ru-1", "ru", "спасибо большое, вы мне очень помогли", "pos", "0", "gratitude", "thank"),
    ("t-ru-2", "ru", "здравствуйте, подскажите, какой у меня остаток по карте", "neu", "0", "-",
     "none"),
    ("t-ru-3", "ru", "позовите вашего руководителя, я с вами разговаривать не буду", "neg", "1",
     "escalation_request", "supervisor"),
    ("t-ru-4", "ru", "с меня списали деньги за услугу, которую я не подключал", "neg", "1",
     "money", "bonus"),
    ("t-ru-5", "ru", "сорок минут жду ответа на линии, это издевательство", "neg", "1",
     "waiting", "apology"),
    ("t-ru-6", "ru", "хочу поменять тариф на более дешёвый", "neu", "0", "-", "none"),
    ("t-uk-1", "uk", "дуже дякую, все швидко зробили", "pos", "0", "gratitude", "thank"),
    ("t-uk-2", "uk", "добрий день, скажіть будь ласка графік роботи відділення", "neu", "0", "-",
     "none"),
    ("t-uk-3", "uk", "покличте керівника, я більше з вами не розмовляю", "neg", "1",
     "escalation_request", "supervisor"),
    ("t-uk-4", "uk", "мені зняли гроші за послугу, яку я не замовляв", "neg", "1", "money",
     "bonus"),
    ("t-uk-5", "uk", "я вже годину чекаю на лінії, скільки можна", "neg", "1", "waiting",
     "apology"),
    ("t-uk-6", "uk", "хочу дізнатися тариф на домашній інтернет", "neu", "0", "-", "none"),
]


def write_tsv(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = COLUMNS) -> Path:
    lines = ["\t".join(header), *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def encoder(settings):
    return text_encoder.E5Encoder(settings.e5_dir)


@pytest.fixture
def small_file(tmp_path) -> Path:
    return write_tsv(tmp_path / "small.tsv", SMALL)


def test_metrics_by_hand():
    truth = ["neg", "neg", "neu", "pos", "pos"]
    guess = ["neg", "neu", "neu", "pos", "neg"]
    labels = ("neg", "neu", "pos")
    assert confusion_matrix(truth, guess, labels).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    # F1: neg 2*1/(2+1+1) = 0.5, neu 2/(2+1) = 2/3, pos 2/(2+1) = 2/3
    assert macro_f1(truth, guess, labels) == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert macro_f1(["neg", "neg"], ["neg", "neg"], labels) == 1.0  # absent labels are skipped
    assert binary_f1([True, True, False, False], [True, False, True, False]) == 0.5
    assert binary_f1([False, False], [False, False]) is None  # undefined: no positives at all
    assert accuracy(truth, guess) == pytest.approx(0.6)


def test_metrics_agree_with_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = ("none", "apology", "bonus", "supervisor", "thank")
    for _ in range(20):
        truth = [labels[i] for i in rng.integers(0, 4, 30)]  # "thank" never true
        guess = [labels[i] for i in rng.integers(0, 5, 30)]
        assert macro_f1(truth, guess, labels) == pytest.approx(
            metrics.f1_score(truth, guess, average="macro", zero_division=0)
        )
        t, g = rng.random(30) < 0.4, rng.random(30) < 0.5
        assert binary_f1(t, g) == pytest.approx(metrics.f1_score(t, g))


def test_small_file(small_file, settings, encoder):
    scores = evaluate(small_file, settings, encoder=encoder)
    assert list(scores) == ["ru", "uk", "all"]
    for group in scores.values():
        assert set(group) == SCORE_KEYS
        assert all(0.0 <= value <= 1.0 for value in group.values())
    assert scores["all"]["sentiment_f1"] >= 0.75
    assert scores["all"]["complaint_f1"] >= 0.75
    assert scores["all"]["action_acc"] >= 0.6


def test_bundled_dev_split_meets_targets(settings, encoder):
    scores = evaluate(list(BUNDLED), settings, split="dev", encoder=encoder)
    assert set(scores) == {"ru", "uk", "all"}
    missed = {
        f"{lang} {key}: {scores[lang][key]:.3f} < {target}"
        for (lang, key), target in DEV_TARGETS.items()
        if scores[lang][key] < target
    }
    assert not missed, missed


def test_cli_prints_tables_and_a_json_last_line(small_file, settings, encoder, monkeypatch):
    loaded: list[Path] = []

    def reuse(model_dir, *args, **kwargs):
        loaded.append(Path(model_dir))
        return encoder

    monkeypatch.setattr(text_encoder, "E5Encoder", reuse)
    result = CliRunner().invoke(eval_text, [str(small_file), "--e5", str(settings.e5_dir)])
    assert result.exit_code == 0, result.output
    assert loaded == [settings.e5_dir]
    lines = result.output.strip().splitlines()
    assert "sentiment confusion" in result.output and "action confusion" in result.output
    summary = json.loads(lines[-1])
    assert list(summary) == ["ru", "uk", "all"]
    assert all(set(group) == SCORE_KEYS for group in summary.values())


def test_cli_split_selects_by_id(tmp_path, settings, encoder, monkeypatch):
    from sentiment_svc.analysis.corpus import read_corpus

    monkeypatch.setattr(text_encoder, "E5Encoder", lambda *args, **kwargs: encoder)
    path = write_tsv(tmp_path / "uk.tsv", [row for row in SMALL if row[1] == "uk"])
    dev = [item for item in read_corpus(path) if item.split == "dev"]
    assert len(dev) == 1  # t-uk-3
    result = CliRunner().invoke(eval_text, [str(path), "--split", "train"])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.output.strip().splitlines()[-1])) == ["uk", "all"]
    assert f"{'uk':<22}{6 - len(dev):>6}" in result.output  # the size column counts train only


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([], ("id", "lang", "text"), "the header must be"),
        ([("x", "ru", "привет", "neg", "1")], COLUMNS, ":2: expected 7 columns, found 5"),
        ([("x", "ru", "привет", "angry", "1", "-", "none")], COLUMNS, ":2: sentiment 'angry'"),
        ([("x", "ru", "привет", "neg", "1", "-", "hug")], COLUMNS, ":2: action 'hug'"),
        ([], COLUMNS, "no utterances"),
    ],
)
def test_malformed_file(tmp_path, settings, rows, header, message):
    path = write_tsv(tmp_path / "bad.tsv", rows, header)
    with pytest.raises(CorpusError, match=message):
        evaluate(path, settings)
    result = CliRunner().invoke(eval_text, [str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert message in result.output


def test_not_utf8(tmp_path):
    path = tmp_path / "binary.tsv"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    result = CliRunner().invoke(eval_text, [str(path)])
    assert result.exit_code == 1
    assert result.output == f"Error: {path}: not UTF-8 text\n"


def test_sentiment_head_api(encoder, tmp_path):
    texts = ["верните деньги за подписку", "дякую, все чудово"]
    embeddings = encoder.embed(texts)
    head = SentimentHead.load()
    assert DEFAULT_HEAD.is_file()
    assert head.uses_lexicon
    assert [s.label for s in head.predict(embeddings, [("money",), ("gratitude",)])] == [
        "neg", "pos"
    ]
    # with and without lexicon categories; a category the head does not know is ignored
    assert head.probabilities(embeddings).shape == (2, 3)
    assert len(head.predict(embeddings, [("money",), ("operator_apologised",)])) == 2
    # a file in the old format (e5 weights only) still loads and predicts
    old = tmp_path / "old.npz"
    np.savez(old, weights=head.weights, bias=head.bias, labels=np.array(["neg", "neu", "pos"]))
    legacy = SentimentHead.load(old)
    assert not legacy.uses_lexicon
    assert np.allclose(legacy.probabilities(embeddings), head.probabilities(embeddings))


def test_training_features_are_what_the_head_reads(encoder):
    """The training tool lays out the features as `SentimentHead.probabilities` reads them."""
    pytest.importorskip("sklearn")
    from sentiment_svc.analysis.sentiment import softmax
    from tools.train_sentiment_head import Data

    texts = ["с меня дважды списали деньги, позовите старшего", "дуже дякую, все чудово"]
    categories = [("money", "escalation_request"), ("gratitude",)]
    data = Data([], encoder.embed(texts), categories)
    head = SentimentHead.load()
    assert head.lexicon_weights is not None and head.lexicon_bias is not None
    features = data.features(("e5", "lexicon"))
    assert features.shape == (2, head.lexicon_weights.shape[1])
    assert np.allclose(
        softmax(features @ head.lexicon_weights.T + head.lexicon_bias),
        head.probabilities(data.embeddings, categories),
    )
    assert np.allclose(
        softmax(data.features(("e5",)) @ head.weights.T + head.bias),
        head.probabilities(data.embeddings),
    )


def spoken(text: str, lang: str) -> Transcript:
    """A finished customer utterance with audio (a loud 180 Hz tone for 2 s): the first
    utterance of a call has no loudness baseline, so its audio cannot raise the voice."""
    t = np.arange(2 * SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
    pcm = (0.5 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    return Transcript(SpeechSegment(Channel.CUSTOMER, 0.0, 2.0, pcm), text, lang)


def test_eval_text_scores_what_the_live_pipeline_does(engines, settings, encoder):
    """Each dev utterance through a fresh live pipeline, one at a time, gives the sentiment,
    categories and action that eval-text scores for it (eval-text batches them)."""
    items = load_items(list(BUNDLED), "dev")
    predictions = service_predictions(items, settings, encoder=encoder)
    assert len(predictions) == len(items)
    for item, prediction in zip(items, predictions, strict=True):
        events = CallPipeline(engines).analyze([spoken(item.text, item.lang)])
        utterance, *alerts = events
        assert all(isinstance(alert, Alert) for alert in alerts)
        live = (
            utterance.sentiment.label,
            utterance.categories,
            alerts[0].action if alerts else "none",
            utterance.raised_voice,
        )
        scored = (
            prediction.sentiment,
            prediction.analysis.categories,
            prediction.action,
            prediction.analysis.raised_voice,
        )
        assert scored == live, item.id
        assert prediction.analysis.sentiment.neg == pytest.approx(utterance.sentiment.neg, abs=1e-4)
    # every action occurs, so every kind of alert was compared
    assert {prediction.action for prediction in predictions} == set(ACTIONS)
