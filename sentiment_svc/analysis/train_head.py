"""Train the sentiment head on the bundled corpus's train split (reproducible).

    python -m sentiment_svc.analysis.train_head [--e5 models/e5-small] [--out PATH]

Embeds every train utterance with multilingual-e5 ("query: " prefix), fits a multinomial
logistic regression (scikit-learn; C chosen by 5-fold cross-validation on train only, never
on dev), and writes the weights. Prints dev macro-F1 per language for information.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from sentiment_svc.analysis.corpus import bundled_corpus
from sentiment_svc.analysis.sentiment import DEFAULT_HEAD, LABELS, SentimentHead
from sentiment_svc.config import Settings


def main(argv: list[str] | None = None) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from sentiment_svc.analysis.text_encoder import E5Encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e5", type=Path, default=Settings().e5_dir)
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    corpus = bundled_corpus()
    train = [item for item in corpus if item.split == "train"]
    dev = [item for item in corpus if item.split == "dev"]
    encoder = E5Encoder(args.e5)
    x_train = encoder.embed([item.text for item in train])
    y_train = np.array([LABELS.index(item.sentiment) for item in train])
    search = GridSearchCV(
        LogisticRegression(max_iter=5000, class_weight="balanced"),
        {"C": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]},
        scoring="f1_macro",
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    )
    search.fit(x_train, y_train)
    model = search.best_estimator_
    head = SentimentHead(
        weights=model.coef_.astype(np.float32), bias=model.intercept_.astype(np.float32)
    )
    head.save(args.out)
    print(f"train: {len(train)} utterances, C={search.best_params_['C']},"
          f" cv macro-F1 {search.best_score_:.3f}; wrote {args.out}")

    x_dev = encoder.embed([item.text for item in dev])
    predicted = head.probabilities(x_dev).argmax(axis=1)
    for lang in ("ru", "uk", None):
        mask = np.array([lang is None or item.lang == lang for item in dev])
        truth = [LABELS.index(item.sentiment) for item, keep in zip(dev, mask, strict=True) if keep]
        f1 = f1_score(truth, predicted[mask], average="macro")
        print(f"dev {lang or 'all'}: {int(mask.sum())} utterances, sentiment macro-F1 {f1:.3f}")


if __name__ == "__main__":
    main()
