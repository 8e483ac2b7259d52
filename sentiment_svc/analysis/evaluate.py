"""Evaluate the text heads on a labelled corpus file: `sentiment-svc eval-text FILE.tsv`.

Every utterance of the file (see `corpus.py` for the format) is embedded with e5, matched
against the complaint lexicon and run through the sentiment, complaint and action heads
(`heads.TextHeads`). Scores, per language (every `lang` value in the file) and overall:
macro-F1 for sentiment (over the labels present in the truth or the predictions), F1 of the
complaint class, and accuracy for the suggested action, plus confusion matrices. The metrics
are small numpy implementations, so the command works without scikit-learn.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from sentiment_svc.analysis.corpus import (
    ACTIONS,
    SENTIMENTS,
    CorpusError,
    LabelledUtterance,
    read_corpus,
)
from sentiment_svc.analysis.heads import TextHeads, TextPrediction, customer_categories

if TYPE_CHECKING:
    from sentiment_svc.analysis.lexicon import ComplaintLexicon
    from sentiment_svc.analysis.text_encoder import E5Encoder
    from sentiment_svc.config import Settings

SPLITS = ("all", "train", "dev")
OVERALL = "all"


def confusion_matrix(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """(k, k) counts: rows are the true labels, columns the predicted ones."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for true, guess in zip(truth, predicted, strict=True):
        matrix[index[true], index[guess]] += 1
    return matrix


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def macro_f1(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Mean F1 over the labels that occur in the truth or the predictions (as scikit-learn)."""
    matrix = confusion_matrix(truth, predicted, labels)
    tp = np.diag(matrix)
    support, guessed = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support + guessed) > 0
    if not present.any():
        return 0.0
    scores = [
        _f1(int(tp[k]), int(guessed[k] - tp[k]), int(support[k] - tp[k]))
        for k in np.flatnonzero(present)
    ]
    return float(np.mean(scores))


def binary_f1(truth: Sequence[bool], predicted: Sequence[bool]) -> float | None:
    """F1 of the positive class; None when neither the truth nor the predictions have one."""
    t, p = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    return _f1(tp, fp, fn) if tp + fp + fn else None


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    if not truth:
        return 0.0
    return float(np.mean([a == b for a, b in zip(truth, predicted, strict=True)]))


def confusion_table(matrix: np.ndarray, labels: Sequence[str]) -> str:
    """A confusion matrix as aligned text; rows true, columns predicted."""
    width = max(6, *(len(label) + 1 for label in labels), len(str(matrix.max(initial=0))) + 1)
    lines = ["true \\ pred".ljust(12) + "".join(label.rjust(width) for label in labels)]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"  {label}".ljust(12) + "".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)


@dataclass(frozen=True)
class GroupScores:
    """The scores of one language, or of the whole file (`name` == "all")."""

    name: str
    size: int
    sentiment_f1: float
    complaint_f1: float | None  # None: no complaint in the truth nor the predictions
    action_acc: float
    sentiment_confusion: np.ndarray  # rows true, columns predicted, in SENTIMENTS order
    action_confusion: np.ndarray  # in ACTIONS order

    def summary(self) -> dict[str, float | None]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "sentiment_f1": rounded(self.sentiment_f1),
            "complaint_f1": rounded(self.complaint_f1),
            "action_acc": rounded(self.action_acc),
        }


@dataclass(frozen=True)
class Evaluation:
    groups: tuple[GroupScores, ...]  # each language (sorted), then the overall scores

    def summary(self) -> dict[str, dict[str, float | None]]:
        """{"ru": {"sentiment_f1": …, "complaint_f1": …, "action_acc": …}, …, "all": {…}}."""
        return {group.name: group.summary() for group in self.groups}

    def report(self) -> str:
        """Readable text: a score table, then the confusion matrices of every group."""

        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        lines = [
            f"{'lang':<6}{'n':>6}{'sentiment macro-F1':>20}{'complaint F1':>14}{'action acc':>12}"
        ]
        for group in self.groups:
            lines.append(
                f"{group.name:<6}{group.size:>6}{show(group.sentiment_f1):>20}"
                f"{show(group.complaint_f1):>14}{show(group.action_acc):>12}"
            )
        for group in self.groups:
            lines += [
                "",
                f"[{group.name}] sentiment confusion (rows: true, columns: predicted)",
                confusion_table(group.sentiment_confusion, SENTIMENTS),
                f"[{group.name}] action confusion (rows: true, columns: predicted)",
                confusion_table(group.action_confusion, ACTIONS),
            ]
        return "\n".join(lines)


def score_group(
    name: str, items: Sequence[LabelledUtterance], predictions: Sequence[TextPrediction]
) -> GroupScores:
    true_sentiment = [item.sentiment for item in items]
    guessed_sentiment = [prediction.sentiment.label for prediction in predictions]
    true_action = [item.action for item in items]
    guessed_action = [prediction.action for prediction in predictions]
    return GroupScores(
        name=name,
        size=len(items),
        sentiment_f1=macro_f1(true_sentiment, guessed_sentiment, SENTIMENTS),
        complaint_f1=binary_f1(
            [item.complaint for item in items], [prediction.complaint for prediction in predictions]
        ),
        action_acc=accuracy(true_action, guessed_action),
        sentiment_confusion=confusion_matrix(true_sentiment, guessed_sentiment, SENTIMENTS),
        action_confusion=confusion_matrix(true_action, guessed_action, ACTIONS),
    )


def score(
    items: Sequence[LabelledUtterance], predictions: Sequence[TextPrediction]
) -> Evaluation:
    """Scores per language (every `lang` present, sorted) and overall."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(items)} utterances")
    groups = []
    for lang in sorted({item.lang for item in items}):
        chosen = [i for i, item in enumerate(items) if item.lang == lang]
        groups.append(
            score_group(lang, [items[i] for i in chosen], [predictions[i] for i in chosen])
        )
    groups.append(score_group(OVERALL, items, predictions))
    return Evaluation(tuple(groups))


def load_items(paths: Sequence[Path], split: str = "all") -> list[LabelledUtterance]:
    """The utterances of the files in `split`; CorpusError (one line) for a malformed file."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    items: list[LabelledUtterance] = []
    for path in paths:
        try:
            items += read_corpus(Path(path))
        except UnicodeDecodeError:
            raise CorpusError(f"{path}: not UTF-8 text") from None
        except csv.Error as error:
            raise CorpusError(f"{path}: not a tab-separated corpus file: {error}") from None
        except OSError as error:
            raise CorpusError(f"{path}: cannot read: {error.strerror or error}") from None
    if any(item.lang == OVERALL for item in items):
        raise CorpusError(f"lang {OVERALL!r} is reserved for the overall scores")
    chosen = [item for item in items if split == "all" or item.split == split]
    if not chosen:
        names = ", ".join(str(path) for path in paths)
        raise CorpusError(f"{names}: no utterances" + ("" if split == "all" else f" in {split}"))
    return chosen


def predict(
    items: Sequence[LabelledUtterance],
    encoder: E5Encoder,
    heads: TextHeads,
    lexicon: ComplaintLexicon,
) -> list[TextPrediction]:
    """The heads' predictions for customer utterances (customer lexicon categories only)."""
    embeddings = encoder.embed([item.text for item in items])
    categories = [
        customer_categories(lexicon.categories(item.text, item.lang)) for item in items
    ]
    return heads.predict(embeddings, categories)


def run_evaluation(
    paths: Path | Sequence[Path],
    settings: Settings,
    *,
    split: str = "all",
    encoder: E5Encoder | None = None,
    heads: TextHeads | None = None,
    lexicon: ComplaintLexicon | None = None,
) -> Evaluation:
    """Evaluate the bundled heads (or `heads`) on one or more corpus files."""
    from sentiment_svc.analysis.lexicon import ComplaintLexicon

    items = load_items([paths] if isinstance(paths, Path | str) else list(paths), split)
    if encoder is None:
        from sentiment_svc.analysis.text_encoder import E5Encoder

        encoder = E5Encoder(settings.e5_dir)
    heads = heads or TextHeads.load()
    lexicon = lexicon or ComplaintLexicon.load(settings.lexicon_file)
    return score(items, predict(items, encoder, heads, lexicon))


def evaluate(
    path: Path | Sequence[Path],
    settings: Settings,
    *,
    split: str = "all",
    encoder: E5Encoder | None = None,
) -> dict[str, Any]:
    """{"ru": {"sentiment_f1", "complaint_f1", "action_acc"}, "uk": {…}, "all": {…}}.

    Raises CorpusError for a malformed file. `encoder`: an already loaded e5 encoder (else
    `settings.e5_dir` is loaded). The lexicon is `settings.lexicon_file` or the bundled one.
    """
    return run_evaluation(path, settings, split=split, encoder=encoder).summary()


@click.command("eval-text")
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True,
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option("--split", type=click.Choice(SPLITS), default="all", show_default=True,
              help="Which utterances: all, or the train or dev split (a function of the id).")
@click.option("--e5", "e5", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A local multilingual-e5 directory (default: the bundled e5-small).")
def eval_text(files: tuple[Path, ...], split: str, e5: Path | None) -> None:
    """Score the text heads on labelled corpus TSV files (the format of analysis/corpus.py).

    Prints macro-F1 (sentiment), F1 (complaint) and accuracy (action) per language and
    overall, confusion matrices, and last a JSON line with the scores.
    """
    import os

    from sentiment_svc.config import Settings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        load_items(files, split)  # fail fast on a malformed file, before loading the models
        settings = Settings() if e5 is None else Settings(e5_model=e5)
        evaluation = run_evaluation(files, settings, split=split)
    except (CorpusError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(" ".join(str(error).split())) from None
    click.echo(evaluation.report())
    click.echo(json.dumps(evaluation.summary(), ensure_ascii=False))
