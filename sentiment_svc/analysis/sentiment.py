"""Sentiment of one utterance: a small softmax head over multilingual-e5 embeddings.

The head's weights (3 x 384 + 3 numbers) are trained by `python -m
sentiment_svc.analysis.train_head` on the labelled corpus in `analysis/data/` and committed
as `analysis/data/sentiment_head.npz`; inference is plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment_svc.frames import Sentiment

LABELS = ("neg", "neu", "pos")
DEFAULT_HEAD = Path(__file__).with_name("data") / "sentiment_head.npz"


@dataclass(frozen=True)
class SentimentHead:
    weights: np.ndarray  # (3, dim)
    bias: np.ndarray  # (3,)

    @classmethod
    def load(cls, path: Path = DEFAULT_HEAD) -> SentimentHead:
        if not path.is_file():
            raise FileNotFoundError(
                f"sentiment head {path} is missing; train it with"
                " `python -m sentiment_svc.analysis.train_head`"
            )
        with np.load(path) as data:
            labels = tuple(str(label) for label in data["labels"])
            if labels != LABELS:
                raise ValueError(f"{path}: labels {labels}, expected {LABELS}")
            return cls(
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
            )

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=self.bias, labels=np.array(LABELS))

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings -> (n, 3) probabilities in LABELS order."""
        logits = embeddings @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> list[Sentiment]:
        return [
            Sentiment(neg=float(row[0]), neu=float(row[1]), pos=float(row[2]))
            for row in self.probabilities(embeddings)
        ]
