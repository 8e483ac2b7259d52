"""Train the text heads on the bundled corpus's train split (reproducible).

    python -m sentiment_svc.analysis.train_head [--e5 models/e5-small] [--out-dir DIR]

Embeds every utterance with multilingual-e5 ("query: " prefix), finds its customer categories
with the bundled complaint lexicon, and fits logistic regressions (scikit-learn, newton-cg,
class-balanced), choosing C and the inputs by 5-fold stratified cross-validation on the train
split only, never on dev:
  sentiment  e5 alone, and e5 + lexicon indicators; the latter is stored next to the former
             (used when the caller passes categories) only if its CV macro-F1 is higher;
  complaint  binary; e5 + lexicon, or e5 + lexicon + sentiment probabilities (out-of-fold on
             train), by CV F1; then whether OR-ing in the lexicon's non-gratitude categories
             raises the out-of-fold F1;
  action     none|apology|bonus|supervisor|thank; the same candidate inputs, by CV accuracy.
Writes sentiment_head.npz, complaint_head.npz and action_head.npz, then prints the
out-of-fold (CV) and the dev scores per language.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_svc.analysis.corpus import ACTIONS, LabelledUtterance, bundled_corpus
from sentiment_svc.analysis.evaluate import score
from sentiment_svc.analysis.heads import (
    ACTION_HEAD,
    COMPLAINT_HEAD,
    DATA_DIR,
    ComplaintHead,
    LinearHead,
    TextHeads,
    TextPrediction,
    build_features,
    customer_categories,
    has_complaint_category,
)
from sentiment_svc.analysis.sentiment import DEFAULT_HEAD, LABELS, SentimentHead
from sentiment_svc.config import Settings
from sentiment_svc.frames import Sentiment

SEED = 0
FOLDS = 5
LEXICON_SCALE = 0.5  # a present category's indicator (e5 features are ~0.05 in size)
C_GRID = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
CANDIDATE_INPUTS = (("e5", "lexicon"), ("e5", "lexicon", "sentiment"))


@dataclass(frozen=True)
class Data:
    """Everything the heads read about a list of utterances."""

    items: list[LabelledUtterance]
    embeddings: np.ndarray
    categories: list[tuple[str, ...]]

    def features(self, inputs: Sequence[str], sentiment: np.ndarray | None = None) -> np.ndarray:
        if sentiment is None:
            sentiment = np.zeros((len(self.items), len(LABELS)), dtype=np.float32)
        return build_features(
            inputs, self.embeddings, self.categories, sentiment, LEXICON_SCALE
        )


@dataclass(frozen=True)
class Fit:
    """The best logistic regression of a grid search and its CV score."""

    inputs: tuple[str, ...]
    c: float
    cv: float
    model: Any  # sklearn LogisticRegression refitted on all of train


def _folds() -> Any:
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)


def _model(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="newton-cg", max_iter=1000, class_weight="balanced")


def search(inputs: tuple[str, ...], x: np.ndarray, y: np.ndarray, scoring: str) -> Fit:
    """C by cross-validation on train (the given rows only)."""
    from sklearn.model_selection import GridSearchCV

    grid = GridSearchCV(_model(1.0), {"C": list(C_GRID)}, scoring=scoring, cv=_folds())
    grid.fit(x, y)
    return Fit(inputs, grid.best_params_["C"], float(grid.best_score_), grid.best_estimator_)


def out_of_fold(fit: Fit, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-validated probabilities on train: each row predicted by a model without it."""
    from sklearn.model_selection import cross_val_predict

    return cross_val_predict(_model(fit.c), x, y, cv=_folds(), method="predict_proba")


def embed(items: list[LabelledUtterance], e5: Path) -> Data:
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.text_encoder import E5Encoder

    lexicon = ComplaintLexicon.load()  # the bundled lexicon: the heads are bundled with it
    embeddings = E5Encoder(e5).embed([item.text for item in items])
    categories = [customer_categories(lexicon.categories(t.text, t.lang)) for t in items]
    return Data(items, embeddings, categories)


def train_sentiment(train: Data) -> tuple[SentimentHead, Fit]:
    y = np.array([LABELS.index(item.sentiment) for item in train.items])
    plain = search(("e5",), train.embeddings, y, "f1_macro")
    with_lexicon = search(("e5", "lexicon"), train.features(("e5", "lexicon")), y, "f1_macro")
    print(f"sentiment cv macro-F1: e5 {plain.cv:.3f} (C={plain.c:g}),"
          f" e5+lexicon {with_lexicon.cv:.3f} (C={with_lexicon.c:g})")
    head = SentimentHead(
        weights=plain.model.coef_.astype(np.float32),
        bias=plain.model.intercept_.astype(np.float32),
    )
    if with_lexicon.cv <= plain.cv:
        print("sentiment: lexicon features do not help on CV; e5 only")
        return head, plain
    print("sentiment: lexicon features help on CV; stored with the e5-only fallback")
    return SentimentHead(
        weights=head.weights,
        bias=head.bias,
        lexicon_weights=with_lexicon.model.coef_.astype(np.float32),
        lexicon_bias=with_lexicon.model.intercept_.astype(np.float32),
        lexicon_scale=LEXICON_SCALE,
    ), with_lexicon


def best_of(
    task: str, train: Data, y: np.ndarray, sentiment: np.ndarray, scoring: str
) -> Fit:
    fits = [search(inputs, train.features(inputs, sentiment), y, scoring)
            for inputs in CANDIDATE_INPUTS]
    for fit in fits:
        print(f"{task} cv {scoring}: {'+'.join(fit.inputs)} {fit.cv:.3f} (C={fit.c:g})")
    return max(fits, key=lambda fit: fit.cv)  # the first (fewer inputs) on a tie


def f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = int((truth & predicted).sum())
    wrong = int((truth ^ predicted).sum())
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


def train_complaint(
    train: Data, sentiment: np.ndarray
) -> tuple[ComplaintHead, np.ndarray]:
    """The head and its out-of-fold decisions on train."""
    y = np.array([item.complaint for item in train.items])
    fit = best_of("complaint", train, y.astype(int), sentiment, "f1")
    x = train.features(fit.inputs, sentiment)
    oof = out_of_fold(fit, x, y.astype(int))[:, 1] >= 0.5
    lexicon = np.array([has_complaint_category(found) for found in train.categories])
    alone, combined = f1(y, oof), f1(y, oof | lexicon)
    lexicon_or = combined > alone
    print(f"complaint cv F1: head {alone:.3f}, head OR lexicon {combined:.3f}"
          f" -> {'head OR lexicon' if lexicon_or else 'head alone'}")
    head = LinearHead.from_binary(
        fit.inputs, fit.model.coef_, float(fit.model.intercept_[0]), LEXICON_SCALE
    )
    return ComplaintHead(head, 0.5, lexicon_or), oof | lexicon if lexicon_or else oof


def train_action(train: Data, sentiment: np.ndarray) -> tuple[LinearHead, np.ndarray]:
    """The head and its out-of-fold predictions (label indices) on train."""
    y = np.array([ACTIONS.index(item.action) for item in train.items])
    fit = best_of("action", train, y, sentiment, "accuracy")
    oof = out_of_fold(fit, train.features(fit.inputs, sentiment), y).argmax(axis=1)
    head = LinearHead(
        ACTIONS,
        fit.inputs,
        fit.model.coef_.astype(np.float32),
        fit.model.intercept_.astype(np.float32),
        LEXICON_SCALE,
    )
    return head, oof


def print_scores(title: str, items: list[LabelledUtterance], predictions: list[TextPrediction]):
    print(f"\n{title}")
    print(score(items, predictions).report().split("\n\n")[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e5", type=Path, default=Settings().e5_dir)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR,
                        help="where to write the .npz heads (default: the bundled data dir)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    np.random.seed(SEED)

    corpus = bundled_corpus()
    data = embed(corpus, args.e5)
    train_rows = [i for i, item in enumerate(corpus) if item.split == "train"]
    dev_rows = [i for i, item in enumerate(corpus) if item.split == "dev"]

    def subset(rows: list[int]) -> Data:
        return Data([corpus[i] for i in rows], data.embeddings[rows],
                    [data.categories[i] for i in rows])

    train, dev = subset(train_rows), subset(dev_rows)
    print(f"train: {len(train.items)} utterances, dev: {len(dev.items)} (dev is never used"
          " for fitting or choosing)")

    sentiment_head, sentiment_fit = train_sentiment(train)
    y_sentiment = np.array([LABELS.index(item.sentiment) for item in train.items])
    oof_sentiment = out_of_fold(
        sentiment_fit, train.features(sentiment_fit.inputs), y_sentiment
    ).astype(np.float32)
    complaint_head, oof_complaint = train_complaint(train, oof_sentiment)
    action_head, oof_action = train_action(train, oof_sentiment)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    sentiment_head.save(args.out_dir / DEFAULT_HEAD.name)
    complaint_head.save(args.out_dir / COMPLAINT_HEAD.name)
    action_head.save(args.out_dir / ACTION_HEAD.name)
    print(f"wrote {DEFAULT_HEAD.name}, {COMPLAINT_HEAD.name}, {ACTION_HEAD.name}"
          f" to {args.out_dir}")

    cv_predictions = [
        TextPrediction(Sentiment(*map(float, s)), bool(c), float(c), ACTIONS[a], 1.0)
        for s, c, a in zip(oof_sentiment, oof_complaint, oof_action, strict=True)
    ]
    print_scores(f"train, {FOLDS}-fold cross-validation (out-of-fold predictions):",
                 train.items, cv_predictions)
    heads = TextHeads.load(args.out_dir)
    print_scores("dev (for information only):", dev.items,
                 heads.predict(dev.embeddings, dev.categories))


if __name__ == "__main__":
    main()
