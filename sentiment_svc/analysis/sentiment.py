"""Sentiment of one utterance: a small softmax head over multilingual-e5 embeddings.

The head's weights are trained by `python -m tools.train_sentiment_head` on the train
split of the labelled corpus in `analysis/data/` and committed as
`analysis/data/sentiment_head.npz`; inference is plain numpy.

The file holds two models. `weights`/`bias` (3 x 384 + 3 numbers) read the e5 embedding alone.
When cross-validation on train showed that the complaint lexicon's categories help, the file
also holds `lexicon_weights`/`lexicon_bias` (3 x (384 + 10) + 3), a model over the embedding
followed by one indicator per customer lexicon category named in `categories`
(`lexicon_features`); it is used whenever the caller passes each utterance's lexicon
categories, and the e5-only model when it does not. Categories the file does not name (e.g.
the operator's) are ignored, so adding a category to the lexicon does not break a head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_svc.alerts.policy import CUSTOMER_CATEGORIES
from sentiment_svc.frames import Sentiment

LABELS = ("neg", "neu", "pos")
DEFAULT_HEAD = Path(__file__).with_name("data") / "sentiment_head.npz"


def lexicon_features(
    categories: Sequence[Sequence[str]], scale: float, names: Sequence[str] = CUSTOMER_CATEGORIES
) -> np.ndarray:
    """(n, len(names)) indicators: `scale` where the utterance carries that category."""
    column = {name: index for index, name in enumerate(names)}
    out = np.zeros((len(categories), len(names)), dtype=np.float32)
    for row, found in enumerate(categories):
        for category in found:
            if category in column:
                out[row, column[category]] = scale
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (n, k) array."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def stored_names(path: Path, data: Any, width: int) -> tuple[str, ...]:
    """The lexicon categories a head's indicator features stand for, checked against `width`."""
    names = tuple(str(name) for name in data["categories"])
    if len(names) != width:
        raise ValueError(f"{path}: {len(names)} lexicon categories for {width} weight columns")
    return names


@dataclass(frozen=True)
class SentimentHead:
    weights: np.ndarray  # (3, dim): the e5-only model
    bias: np.ndarray  # (3,)
    lexicon_weights: np.ndarray | None = None  # (3, dim + len(lexicon_names))
    lexicon_bias: np.ndarray | None = None  # (3,)
    lexicon_scale: float = 0.0  # the value of a present category's indicator
    lexicon_names: tuple[str, ...] = CUSTOMER_CATEGORIES  # the indicators' categories

    @classmethod
    def load(cls, path: Path = DEFAULT_HEAD) -> SentimentHead:
        if not path.is_file():
            raise FileNotFoundError(
                f"sentiment head {path} is missing; train it with"
                " `python -m tools.train_sentiment_head`"
            )
        with np.load(path) as data:
            labels = tuple(str(label) for label in data["labels"])
            if labels != LABELS:
                raise ValueError(f"{path}: labels {labels}, expected {LABELS}")
            if "lexicon_weights" not in data:
                return cls(
                    weights=data["weights"].astype(np.float32),
                    bias=data["bias"].astype(np.float32),
                )
            weights = data["weights"].astype(np.float32)
            lexicon_weights = data["lexicon_weights"].astype(np.float32)
            width = lexicon_weights.shape[1] - weights.shape[1]
            return cls(
                weights=weights,
                bias=data["bias"].astype(np.float32),
                lexicon_weights=lexicon_weights,
                lexicon_bias=data["lexicon_bias"].astype(np.float32),
                lexicon_scale=float(data["lexicon_scale"]),
                lexicon_names=stored_names(path, data, width),
            )

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "weights": self.weights, "bias": self.bias, "labels": np.array(LABELS)
        }
        if self.lexicon_weights is not None and self.lexicon_bias is not None:
            arrays |= {
                "lexicon_weights": self.lexicon_weights,
                "lexicon_bias": self.lexicon_bias,
                "lexicon_scale": np.array(self.lexicon_scale, dtype=np.float32),
                "categories": np.array(self.lexicon_names),
            }
        np.savez(path, **arrays)

    @property
    def uses_lexicon(self) -> bool:
        return self.lexicon_weights is not None

    def probabilities(
        self, embeddings: np.ndarray, categories: Sequence[Sequence[str]] | None = None
    ) -> np.ndarray:
        """(n, dim) embeddings -> (n, 3) probabilities in LABELS order.

        `categories`: each utterance's lexicon categories; with them (and a head trained with
        lexicon features) the lexicon-aware model is used, without them the e5-only one.
        """
        if categories is None or self.lexicon_weights is None or self.lexicon_bias is None:
            return softmax(embeddings @ self.weights.T + self.bias)
        if len(categories) != len(embeddings):
            raise ValueError(f"{len(categories)} category lists for {len(embeddings)} embeddings")
        indicators = lexicon_features(categories, self.lexicon_scale, self.lexicon_names)
        features = np.hstack([embeddings, indicators])
        return softmax(features @ self.lexicon_weights.T + self.lexicon_bias)

    def predict(
        self, embeddings: np.ndarray, categories: Sequence[Sequence[str]] | None = None
    ) -> list[Sentiment]:
        return [
            Sentiment(neg=float(row[0]), neu=float(row[1]), pos=float(row[2]))
            for row in self.probabilities(embeddings, categories)
        ]
