"""The labelled utterance corpus: reading the TSV format and the fixed train/dev split.

Format (header line, tab-separated): id, lang, text, sentiment (neg|neu|pos), complaint (0|1),
categories (comma-separated or `-`), action (none|apology|bonus|supervisor|thank), and
optionally context (the call's earlier turns, ``C: …``/``O: …`` joined by `` || ``, or `-`)
and then tags (the label guide's hard cases the line is an example of, comma-separated, or
`plain`). The split is a pure function of the id, so it never changes as lines are added elsewhere.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sentiment_svc.alerts.policy import CUSTOMER_CATEGORIES

COLUMNS = ("id", "lang", "text", "sentiment", "complaint", "categories", "action")
OPTIONAL_COLUMNS = ("context", "tags")  # either none, context, or context and tags
# The label guide's hard cases (`../shared/labels.md`), as a line's tags name them; test sets
# are scored per tag as well as per language.
HARD_CASES = (
    "irony", "resignation", "implicit_threat", "trigger_neutral", "negation",
    "positive_surprise", "distress", "surzhyk", "ru_by_uk", "slips", "context",
)
PLAIN = "plain"
TURN_SEPARATOR = " || "
# The categories that are a complaint about the company, its staff or its service: all the
# customer's categories but gratitude (the product's label guide). The service reads a
# complaint only through them, so the analysis of an utterance "finds a complaint" when it
# carries one of them; the labelled `complaint` column also marks complaints that no
# category names (irony, a hedged or resigned complaint).
COMPLAINT_CATEGORIES = tuple(c for c in CUSTOMER_CATEGORIES if c != "gratitude")
SENTIMENTS = ("neg", "neu", "pos")
# "none" (no alert), then the escalation policy's actions (`alerts.policy.Rule.action`)
ACTIONS = ("none", "apology", "bonus", "supervisor", "thank")
DATA_DIR = Path(__file__).with_name("data")
BUNDLED = (DATA_DIR / "corpus_ru.tsv", DATA_DIR / "corpus_uk.tsv")
DEV_SHARE = 5  # one line in five is dev


class CorpusError(ValueError):
    """A corpus file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class LabelledUtterance:
    id: str
    lang: str
    text: str
    sentiment: str
    complaint: bool
    categories: tuple[str, ...]
    action: str
    context: tuple[str, ...] = ()  # earlier turns, oldest first: "C: …" / "O: …"
    tags: tuple[str, ...] = ()  # HARD_CASES, or (PLAIN,)

    @property
    def split(self) -> str:
        return "dev" if zlib.crc32(self.id.encode()) % DEV_SHARE == 0 else "train"


def read_corpus(path: Path) -> list[LabelledUtterance]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = tuple(next(reader, None) or ())
        optional = header[len(COLUMNS):]
        if header[: len(COLUMNS)] != COLUMNS or optional != OPTIONAL_COLUMNS[: len(optional)]:
            raise CorpusError(f"{path}: the header must be {' '.join(COLUMNS)}"
                              f" [{' '.join(OPTIONAL_COLUMNS)}]")
        return [_parse(path, number, row, len(header))
                for number, row in enumerate(reader, start=2) if row]


def _parse(path: Path, number: int, row: list[str], columns: int) -> LabelledUtterance:
    where = f"{path}:{number}"
    if len(row) != columns:
        raise CorpusError(f"{where}: expected {columns} columns, found {len(row)}")
    id_, lang, text, sentiment, complaint, categories, action = row[: len(COLUMNS)]
    context, tags = (row[len(COLUMNS):] + ["-", "-"])[:2]
    if sentiment not in SENTIMENTS:
        raise CorpusError(f"{where}: sentiment {sentiment!r} is not one of {SENTIMENTS}")
    if complaint not in ("0", "1"):
        raise CorpusError(f"{where}: complaint must be 0 or 1, not {complaint!r}")
    labels = _list(categories, ",")
    unknown = [c for c in labels if c not in CUSTOMER_CATEGORIES]
    if unknown:
        raise CorpusError(f"{where}: unknown categories {unknown}")
    if action not in ACTIONS:
        raise CorpusError(f"{where}: action {action!r} is not one of {ACTIONS}")
    turns = _list(context, TURN_SEPARATOR.strip())
    if any(not turn.startswith(("C:", "O:")) for turn in turns):
        raise CorpusError(f"{where}: each context turn starts with 'C:' or 'O:'")
    hard_cases = _list(tags, ",")
    unknown = [t for t in hard_cases if t not in (*HARD_CASES, PLAIN)]
    if unknown:
        raise CorpusError(f"{where}: unknown tags {unknown}; tags are {HARD_CASES} or plain")
    return LabelledUtterance(id_, lang, text, sentiment, complaint == "1", labels, action,
                             turns, hard_cases)


def _list(field: str, separator: str) -> tuple[str, ...]:
    if field.strip() in ("", "-"):
        return ()
    return tuple(part.strip() for part in field.split(separator) if part.strip())


def is_complaint(categories: Sequence[str]) -> bool:
    """Whether an utterance with these categories is a complaint (see COMPLAINT_CATEGORIES)."""
    return any(category in COMPLAINT_CATEGORIES for category in categories)


def bundled_corpus() -> list[LabelledUtterance]:
    return [item for path in BUNDLED for item in read_corpus(path)]
