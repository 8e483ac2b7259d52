"""Train the sentiment head the service loads on the bundled corpus's train split.

    python -m tools.train_sentiment_head [--e5 models/e5-small] [--out-dir DIR]

Embeds every utterance with multilingual-e5 ("query: " prefix), finds its customer categories
with the bundled complaint lexicon (as the analyzer does for the customer's words), and fits
logistic regressions (scikit-learn, a dev dependency; newton-cg, class-balanced), choosing C
by 5-fold stratified cross-validation on the train split only, never on dev: e5 alone, and
e5 + lexicon indicators; the latter is stored next to the former (used when the caller passes
categories, as the analyzer does for customer utterances) only if its CV macro-F1 is higher.
Writes `sentiment_head.npz` (reproducible: the same bytes on a rerun), then prints the
out-of-fold (CV) and the dev sentiment scores per language. `sentiment-svc eval-text` scores
the whole analysis and the alerts with it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_svc.alerts.policy import CUSTOMER_CATEGORIES
from sentiment_svc.analysis.corpus import SENTIMENTS, LabelledUtterance, bundled_corpus
from sentiment_svc.analysis.evaluate import OVERALL, confusion_matrix, confusion_table, macro_f1
from sentiment_svc.analysis.sentiment import (
    DEFAULT_HEAD,
    LABELS,
    SentimentHead,
    lexicon_features,
)
from sentiment_svc.config import Settings

SEED = 0
FOLDS = 5
LEXICON_SCALE = 0.5  # a present category's indicator (e5 features are ~0.05 in size)
C_GRID = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


@dataclass(frozen=True)
class Data:
    """What the head reads about a list of utterances."""

    items: list[LabelledUtterance]
    embeddings: np.ndarray
    categories: list[tuple[str, ...]]

    def features(self, inputs: Sequence[str]) -> np.ndarray:
        """The e5 embeddings, followed by the lexicon indicators when `inputs` names them
        (the layout `SentimentHead.probabilities` reads)."""
        if "lexicon" not in inputs:
            return self.embeddings.astype(np.float32)
        indicators = lexicon_features(self.categories, LEXICON_SCALE)
        return np.hstack([self.embeddings, indicators]).astype(np.float32)

    def subset(self, rows: Sequence[int]) -> Data:
        return Data(
            [self.items[i] for i in rows],
            self.embeddings[list(rows)],
            [self.categories[i] for i in rows],
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


def search(inputs: tuple[str, ...], x: np.ndarray, y: np.ndarray) -> Fit:
    """C by cross-validated macro-F1 on train (the given rows only)."""
    from sklearn.model_selection import GridSearchCV

    grid = GridSearchCV(_model(1.0), {"C": list(C_GRID)}, scoring="f1_macro", cv=_folds())
    grid.fit(x, y)
    return Fit(inputs, grid.best_params_["C"], float(grid.best_score_), grid.best_estimator_)


def out_of_fold(fit: Fit, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-validated probabilities on train: each row predicted by a model without it."""
    from sklearn.model_selection import cross_val_predict

    return cross_val_predict(_model(fit.c), x, y, cv=_folds(), method="predict_proba")


def embed(items: list[LabelledUtterance], e5: Path) -> Data:
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.text_encoder import E5Encoder

    lexicon = ComplaintLexicon.load()  # the bundled lexicon: the head is bundled with it
    embeddings = E5Encoder(e5).embed([item.text for item in items])
    categories = [
        tuple(c for c in lexicon.categories(item.text, item.lang) if c in CUSTOMER_CATEGORIES)
        for item in items
    ]
    return Data(items, embeddings, categories)


def train(data: Data) -> tuple[SentimentHead, Fit]:
    y = np.array([LABELS.index(item.sentiment) for item in data.items])
    plain = search(("e5",), data.features(("e5",)), y)
    with_lexicon = search(("e5", "lexicon"), data.features(("e5", "lexicon")), y)
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


def print_scores(title: str, items: Sequence[LabelledUtterance], guessed: Sequence[str]) -> None:
    """Sentiment macro-F1 per language and overall, and the overall confusion matrix."""
    print(f"\n{title}")
    print(f"{'lang':<6}{'n':>6}{'sentiment macro-F1':>20}")
    for lang in [*sorted({item.lang for item in items}), OVERALL]:
        rows = [i for i, item in enumerate(items) if lang in (OVERALL, item.lang)]
        truth = [items[i].sentiment for i in rows]
        f1 = macro_f1(truth, [guessed[i] for i in rows], SENTIMENTS)
        print(f"{lang:<6}{len(rows):>6}{f1:>20.3f}")
    truth = [item.sentiment for item in items]
    print(confusion_table(confusion_matrix(truth, guessed, SENTIMENTS), SENTIMENTS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--e5", type=Path, default=Settings().e5_dir)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_HEAD.parent,
                        help="where to write sentiment_head.npz (default: the bundled data dir)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    np.random.seed(SEED)

    corpus = bundled_corpus()
    data = embed(corpus, args.e5)
    train_split = data.subset([i for i, item in enumerate(corpus) if item.split == "train"])
    dev_split = data.subset([i for i, item in enumerate(corpus) if item.split == "dev"])
    print(f"train: {len(train_split.items)} utterances, dev: {len(dev_split.items)} (dev is"
          " never used for fitting or choosing)")

    head, fit = train(train_split)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / DEFAULT_HEAD.name
    head.save(path)
    print(f"wrote {path}")

    y = np.array([LABELS.index(item.sentiment) for item in train_split.items])
    oof = out_of_fold(fit, train_split.features(fit.inputs), y)
    print_scores(f"train, {FOLDS}-fold cross-validation (out-of-fold predictions):",
                 train_split.items, [LABELS[k] for k in oof.argmax(axis=1)])
    saved = SentimentHead.load(path)
    dev = saved.predict(dev_split.embeddings, dev_split.categories)
    print_scores("dev (for information only):", dev_split.items, [s.label for s in dev])


if __name__ == "__main__":
    main()
