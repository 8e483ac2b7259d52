"""Score what the service makes of labelled utterances: `sentiment-svc eval-text FILE.tsv`.

Every utterance of the file (see `corpus.py` for the format) goes through the service's own
objects as a customer utterance heard on its own: the personal-data masker of the settings,
the `UtteranceAnalyzer` the service runs (`pipeline.load_analyzer`: e5, the sentiment head,
the complaint lexicon; all utterances in one batch), and a fresh `CallState` under the
service's escalation policy (`settings.policy_file`). What is scored:
  sentiment  the analysis's most likely sentiment;
  complaint  whether the analysis reads a complaint (`alerts.state.complains`: the model's
             reading where it gives one, else a complaint category);
  action     the action of the alert the policy raises on that utterance, or "none".
An utterance heard on its own is the first of a call: no loudness baseline (so no raised
voice) and no earlier complaint, so the rules that need the call's history (the same
complaint again, a level reached over several utterances) fire only as they would there.

Scores, per language (every `lang` value in the file) and overall: macro-F1 for sentiment
(over the labels present in the truth or the predictions), F1 of the complaint class, and
accuracy for the action, plus confusion matrices. The metrics are small numpy
implementations, so the command works without scikit-learn.
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

from sentiment_svc.alerts.policy import SEVERITY_RANK
from sentiment_svc.alerts.state import CallState, complains
from sentiment_svc.analysis.corpus import (
    ACTIONS,
    HARD_CASES,
    PLAIN,
    SENTIMENTS,
    CorpusError,
    LabelledUtterance,
    read_corpus,
)
from sentiment_svc.analysis.prosody import LoudnessReading
from sentiment_svc.audio.loudness import SILENCE_DB
from sentiment_svc.frames import Alert, Channel, SpeechSegment, Transcript, UtteranceAnalysis

if TYPE_CHECKING:
    from sentiment_svc.alerts.policy import Policy
    from sentiment_svc.analysis.analyzer import UtteranceAnalyzer
    from sentiment_svc.analysis.batching import TextEncoder
    from sentiment_svc.analysis.pii import PiiMasker
    from sentiment_svc.config import Settings

SPLITS = ("all", "train", "dev")
OVERALL = "all"
TAG_PREFIX = "tag:"  # the groups of one hard case: "tag:irony"


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
            f"{'group':<22}{'n':>6}{'sentiment macro-F1':>20}{'complaint F1':>14}"
            f"{'action acc':>12}"
        ]
        for group in self.groups:
            lines.append(
                f"{group.name:<22}{group.size:>6}{show(group.sentiment_f1):>20}"
                f"{show(group.complaint_f1):>14}{show(group.action_acc):>12}"
            )
        for group in self.groups:
            if group.name.startswith(TAG_PREFIX):
                continue  # the slices' tables would repeat the languages' in small
            lines += [
                "",
                f"[{group.name}] sentiment confusion (rows: true, columns: predicted)",
                confusion_table(group.sentiment_confusion, SENTIMENTS),
                f"[{group.name}] action confusion (rows: true, columns: predicted)",
                confusion_table(group.action_confusion, ACTIONS),
            ]
        return "\n".join(lines)


def score_group(
    name: str, items: Sequence[LabelledUtterance], predictions: Sequence[Prediction]
) -> GroupScores:
    true_sentiment = [item.sentiment for item in items]
    guessed_sentiment = [prediction.sentiment for prediction in predictions]
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


def score(items: Sequence[LabelledUtterance], predictions: Sequence[Prediction]) -> Evaluation:
    """Scores per language (every `lang` present, sorted), per hard-case tag the lines
    carry (`corpus.HARD_CASES` order, then plain; named ``tag:<name>``) and overall."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(items)} utterances")
    groups = []

    def add(name: str, chosen: list[int]) -> None:
        if chosen:
            groups.append(
                score_group(name, [items[i] for i in chosen], [predictions[i] for i in chosen])
            )

    for lang in sorted({item.lang for item in items}):
        add(lang, [i for i, item in enumerate(items) if item.lang == lang])
    for tag in (*HARD_CASES, PLAIN):
        add(f"{TAG_PREFIX}{tag}", [i for i, item in enumerate(items) if tag in item.tags])
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


# A speaker's first utterance has no loudness baseline yet: whatever its audio, the service
# reads it as 0 dB over the baseline, not raised (`prosody.SpeakerLoudness.observe`).
FIRST_READING = LoudnessReading(level_db=SILENCE_DB, relative_db=0.0, raised_voice=False)


@dataclass(frozen=True)
class Prediction:
    """What the service makes of one customer utterance heard on its own."""

    analysis: UtteranceAnalysis
    action: str  # one of corpus.ACTIONS: the action of the alert raised, or "none"

    @property
    def sentiment(self) -> str:
        return self.analysis.sentiment.label

    @property
    def complaint(self) -> bool:
        return complains(self.analysis)


def customer_transcript(text: str, lang: str) -> Transcript:
    """`text` as a finished customer utterance at the start of a call (no audio: the
    analysis reads the text; the loudness reading is FIRST_READING)."""
    segment = SpeechSegment(Channel.CUSTOMER, 0.0, 0.0, np.zeros(0, dtype=np.float32))
    return Transcript(segment, text, lang)


def suggested_action(policy: Policy, utterance: UtteranceAnalysis) -> str:
    """The action a fresh call's state suggests after this one utterance: that of the most
    urgent alert it raises (the policy raises one at most), or "none"."""
    alerts = [event for event in CallState(policy).observe(utterance) if isinstance(event, Alert)]
    if not alerts:
        return "none"
    return max(alerts, key=lambda alert: SEVERITY_RANK[alert.severity]).action


def predict(
    items: Sequence[LabelledUtterance],
    analyzer: UtteranceAnalyzer,
    policy: Policy,
    masker: PiiMasker | None = None,
) -> list[Prediction]:
    """Each utterance as the service analyses it (batched) and the action its policy
    suggests, every utterance heard on its own as a customer's."""
    transcripts = [
        customer_transcript(
            masker.mask(item.text, item.lang).text if masker and item.text else item.text,
            item.lang,
        )
        for item in items
    ]
    analyses = analyzer.analyze(transcripts, [FIRST_READING] * len(transcripts))
    return [Prediction(analysis, suggested_action(policy, analysis)) for analysis in analyses]


def service_predictions(
    items: Sequence[LabelledUtterance],
    settings: Settings,
    *,
    encoder: TextEncoder | None = None,
    analyzer: UtteranceAnalyzer | None = None,
) -> list[Prediction]:
    """`predict` with the objects the service builds from `settings`: its analyzer (or
    `analyzer`; `encoder`: an already loaded e5 encoder for it), its policy and masking."""
    from sentiment_svc.alerts.policy import Policy
    from sentiment_svc.pipeline import load_analyzer, load_masker

    analyzer = analyzer or load_analyzer(settings, encoder)
    return predict(items, analyzer, Policy.load(settings.policy_file), load_masker(settings))


def run_evaluation(
    paths: Path | Sequence[Path],
    settings: Settings,
    *,
    split: str = "all",
    encoder: TextEncoder | None = None,
    analyzer: UtteranceAnalyzer | None = None,
) -> Evaluation:
    """Score the service's analysis and alerts on corpus files (see `service_predictions`)."""
    items = load_items([paths] if isinstance(paths, Path | str) else list(paths), split)
    return score(items, service_predictions(items, settings, encoder=encoder, analyzer=analyzer))


def evaluate(
    path: Path | Sequence[Path],
    settings: Settings,
    *,
    split: str = "all",
    encoder: TextEncoder | None = None,
) -> dict[str, Any]:
    """{"ru": {"sentiment_f1", "complaint_f1", "action_acc"}, "uk": {…}, "all": {…}}.

    Raises CorpusError for a malformed file. `encoder`: an already loaded e5 encoder (else
    `settings.e5_dir` is loaded). The lexicon, policy and masking are those of `settings`.
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
    """Score the service's analysis and alerts on labelled corpus TSV files (the format of
    analysis/corpus.py), each utterance heard on its own as a customer's.

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
