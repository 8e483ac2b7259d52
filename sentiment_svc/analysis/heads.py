"""Per-utterance complaint and suggested-action heads, and the bundle of all text heads.

Each head is a linear softmax model over a concatenation of named inputs, in `INPUTS` order:
  e5         the utterance's 384-d multilingual-e5 embedding;
  lexicon    one indicator per customer lexicon category (`sentiment.lexicon_features`; the
             file names the categories, any other category is ignored);
  sentiment  the sentiment head's (neg, neu, pos) probabilities.
Which inputs a head reads, its labels and weights are stored in a committed .npz next to
`sentiment_head.npz`, written by `python -m sentiment_svc.analysis.train_head` (scikit-learn,
train split only); inference here is plain numpy.

The complaint decision combines the head with the lexicon: the head's probability against a
threshold, or (when cross-validation on train chose it) any non-gratitude lexicon category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment_svc.alerts.policy import CUSTOMER_CATEGORIES
from sentiment_svc.analysis.corpus import ACTIONS
from sentiment_svc.analysis.sentiment import (
    DEFAULT_HEAD,
    SentimentHead,
    lexicon_features,
    softmax,
    stored_names,
)
from sentiment_svc.frames import Sentiment

INPUTS = ("e5", "lexicon", "sentiment")
COMPLAINT_LABELS = ("no", "yes")
COMPLAINT_CATEGORIES = tuple(c for c in CUSTOMER_CATEGORIES if c != "gratitude")
DATA_DIR = DEFAULT_HEAD.parent
COMPLAINT_HEAD = DATA_DIR / "complaint_head.npz"
ACTION_HEAD = DATA_DIR / "action_head.npz"


def build_features(
    inputs: Sequence[str],
    embeddings: np.ndarray,
    categories: Sequence[Sequence[str]],
    sentiment: np.ndarray,
    lexicon_scale: float,
    lexicon_names: Sequence[str] = CUSTOMER_CATEGORIES,
) -> np.ndarray:
    """The (n, d) feature matrix of the named inputs, concatenated in INPUTS order."""
    unknown = set(inputs) - set(INPUTS)
    if unknown:
        raise ValueError(f"unknown head inputs {sorted(unknown)}; known: {INPUTS}")
    parts = {
        "e5": lambda: embeddings,
        "lexicon": lambda: lexicon_features(categories, lexicon_scale, lexicon_names),
        "sentiment": lambda: sentiment,
    }
    return np.hstack([parts[name]().astype(np.float32) for name in INPUTS if name in inputs])


@dataclass(frozen=True)
class LinearHead:
    """softmax(features @ weights.T + bias) over `labels`, reading `inputs`."""

    labels: tuple[str, ...]
    inputs: tuple[str, ...]
    weights: np.ndarray  # (len(labels), d)
    bias: np.ndarray  # (len(labels),)
    lexicon_scale: float = 0.0
    lexicon_names: tuple[str, ...] = CUSTOMER_CATEGORIES

    @classmethod
    def from_binary(
        cls,
        inputs: tuple[str, ...],
        coef: np.ndarray,
        intercept: float,
        lexicon_scale: float,
        lexicon_names: tuple[str, ...] = CUSTOMER_CATEGORIES,
    ) -> LinearHead:
        """A two-label head from a binary logistic model: softmax([-z/2, z/2]) = sigmoid(z)."""
        row = np.asarray(coef, dtype=np.float32).reshape(-1) / 2
        bias = np.float32(intercept) / 2
        return cls(
            COMPLAINT_LABELS,
            inputs,
            np.stack([-row, row]),
            np.array([-bias, bias], dtype=np.float32),
            lexicon_scale,
            lexicon_names,
        )

    @classmethod
    def load(
        cls, path: Path, labels: tuple[str, ...], extras: Sequence[str] = ()
    ) -> tuple[LinearHead, dict[str, float]]:
        """The head, and those of the scalar `extras` (e.g. a threshold) that the file holds."""
        if not path.is_file():
            raise FileNotFoundError(
                f"text head {path} is missing; train it with"
                " `python -m sentiment_svc.analysis.train_head`"
            )
        with np.load(path) as data:
            stored = tuple(str(label) for label in data["labels"])
            if stored != labels:
                raise ValueError(f"{path}: labels {stored}, expected {labels}")
            inputs = tuple(str(name) for name in data["inputs"])
            weights = data["weights"].astype(np.float32)
            width = weights.shape[1] - int(data["e5_dim"]) - ("sentiment" in inputs) * 3
            names = stored_names(path, data, width)
            head = cls(
                labels=labels,
                inputs=inputs,
                weights=weights,
                bias=data["bias"].astype(np.float32),
                lexicon_scale=float(data["lexicon_scale"]),
                lexicon_names=names,
            )
            found = {key: float(data[key]) for key in extras if key in data.files}
        return head, found

    @property
    def e5_dim(self) -> int:
        """Width of the embedding part of the features (0 without the e5 input)."""
        if "e5" not in self.inputs:
            return 0
        others = ("lexicon" in self.inputs) * len(self.lexicon_names) + (
            "sentiment" in self.inputs
        ) * 3
        return int(self.weights.shape[1]) - others

    def save(self, path: Path, **extras: float) -> None:
        np.savez(
            path,
            labels=np.array(self.labels),
            inputs=np.array(self.inputs),
            categories=np.array(self.lexicon_names if "lexicon" in self.inputs else (), dtype=str),
            e5_dim=np.array(self.e5_dim),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            lexicon_scale=np.array(self.lexicon_scale, dtype=np.float32),
            **{key: np.array(value, dtype=np.float32) for key, value in extras.items()},
        )

    def probabilities(
        self, embeddings: np.ndarray, categories: Sequence[Sequence[str]], sentiment: np.ndarray
    ) -> np.ndarray:
        """(n, len(labels)) probabilities."""
        features = build_features(
            self.inputs, embeddings, categories, sentiment, self.lexicon_scale, self.lexicon_names
        )
        return softmax(features @ self.weights.T + self.bias)


@dataclass(frozen=True)
class ComplaintHead:
    """Is the utterance a complaint? The head's probability >= threshold, or the lexicon."""

    head: LinearHead
    threshold: float = 0.5
    lexicon_or: bool = False  # also a complaint when a non-gratitude category was found

    @classmethod
    def load(cls, path: Path = COMPLAINT_HEAD) -> ComplaintHead:
        head, extras = LinearHead.load(path, COMPLAINT_LABELS, ("threshold", "lexicon_or"))
        return cls(head, extras.get("threshold", 0.5), bool(extras.get("lexicon_or", 0.0)))

    def save(self, path: Path = COMPLAINT_HEAD) -> None:
        self.head.save(path, threshold=self.threshold, lexicon_or=float(self.lexicon_or))

    def probabilities(
        self, embeddings: np.ndarray, categories: Sequence[Sequence[str]], sentiment: np.ndarray
    ) -> np.ndarray:
        """(n,) the head's complaint probability (without the lexicon rule)."""
        return self.head.probabilities(embeddings, categories, sentiment)[:, 1]

    def decide(self, probabilities: np.ndarray, categories: Sequence[Sequence[str]]) -> np.ndarray:
        """(n,) bool: the final complaint decision from the head's probabilities."""
        decision = probabilities >= self.threshold
        if self.lexicon_or:
            decision |= np.array([has_complaint_category(found) for found in categories], bool)
        return decision

    def predict(
        self, embeddings: np.ndarray, categories: Sequence[Sequence[str]], sentiment: np.ndarray
    ) -> np.ndarray:
        return self.decide(self.probabilities(embeddings, categories, sentiment), categories)


def has_complaint_category(categories: Sequence[str]) -> bool:
    return any(category in COMPLAINT_CATEGORIES for category in categories)


def customer_categories(categories: Sequence[str]) -> tuple[str, ...]:
    """The customer's categories of a lexicon result, as the analyzer keeps them for the
    customer channel (the operator_* categories describe the operator's words)."""
    return tuple(category for category in categories if category in CUSTOMER_CATEGORIES)


@dataclass(frozen=True)
class TextPrediction:
    """Everything the text heads say about one utterance."""

    sentiment: Sentiment
    complaint: bool
    complaint_probability: float
    action: str  # one of corpus.ACTIONS: what to suggest right after this utterance
    action_probability: float


@dataclass(frozen=True)
class TextHeads:
    """The sentiment, complaint and action heads, applied together."""

    sentiment: SentimentHead
    complaint: ComplaintHead
    action: LinearHead

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR) -> TextHeads:
        return cls(
            sentiment=SentimentHead.load(data_dir / DEFAULT_HEAD.name),
            complaint=ComplaintHead.load(data_dir / COMPLAINT_HEAD.name),
            action=LinearHead.load(data_dir / ACTION_HEAD.name, ACTIONS)[0],
        )

    def predict(
        self, embeddings: np.ndarray, categories: Sequence[Sequence[str]]
    ) -> list[TextPrediction]:
        """(n, dim) embeddings and each utterance's lexicon categories -> n predictions."""
        if len(categories) != len(embeddings):
            raise ValueError(f"{len(categories)} category lists for {len(embeddings)} embeddings")
        if not len(embeddings):
            return []
        sentiment = self.sentiment.probabilities(embeddings, categories)
        complaint_p = self.complaint.probabilities(embeddings, categories, sentiment)
        complaint = self.complaint.decide(complaint_p, categories)
        action_p = self.action.probabilities(embeddings, categories, sentiment)
        return [
            TextPrediction(
                sentiment=Sentiment(neg=float(s[0]), neu=float(s[1]), pos=float(s[2])),
                complaint=bool(c),
                complaint_probability=float(p),
                action=self.action.labels[int(a.argmax())],
                action_probability=float(a.max()),
            )
            for s, c, p, a in zip(sentiment, complaint, complaint_p, action_p, strict=True)
        ]
