"""Choose the tuned model's cutoffs on lines it never saw (issue 23).

    python -m tools.train_text_model --v2-dev --out /tmp/fold.npz [...]
    python -m tools.calibrate_cutoffs /tmp/fold.npz

A model trained with `--v2-dev` never saw the dev split of corpus v2 (nor v1's). This reads
that split once (in torch, with each line's context) and scores every `Cutoffs` of a small
grid on it, as `tools.eval_text_model` scores (masking, lexicon, policy): how sure the model
must be of a category and of a complaint, and the least probability it must give a category
the bundled lexicon found for that finding to stand. Prints one line per setting, best action
accuracy first, then the JSON of the best. The held-out set is never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.analysis.corpus import BUNDLED
from sentiment_svc.analysis.evaluate import (
    load_items,
)
from sentiment_svc.analysis.lexicon import CategoryMatch, ComplaintLexicon
from sentiment_svc.analysis.model_analyzer import Cutoffs, ModelAnalyzer
from sentiment_svc.analysis.text_model import TextModel, TextReading
from sentiment_svc.config import Settings
from sentiment_svc.pipeline import load_masker
from tools.eval_text_model import masked_texts, score_analyzer
from tools.train_text_model import V2_DIR

CATEGORY = (0.3, 0.4, 0.5, 0.6)
COMPLAINT = (0.4, 0.5, 0.6, 0.7)
LEXICON_FLOOR = (0.0, 0.05, 0.1, 0.2, 0.3, 1.01)  # 1.01: the bundled lexicon never adds


class _Read:
    """The readings already made, handed out again (the grid reruns only the rules)."""

    def __init__(self, readings: Sequence[TextReading], context_tokens: int) -> None:
        self.readings = list(readings)
        self.inputs = SimpleNamespace(context_tokens=context_tokens)

    def read(self, texts: Sequence[str], contexts: object = None) -> list[TextReading]:
        if len(texts) != len(self.readings):
            raise ValueError("read again with other texts")
        return self.readings


class _Matched:
    """The lexicon's matches, each utterance's made once."""

    def __init__(self, lexicon: ComplaintLexicon) -> None:
        self._lexicon = lexicon
        self._found: dict[tuple[str, str], list[CategoryMatch]] = {}

    def match(self, text: str, lang: str) -> list[CategoryMatch]:
        key = (text, lang)
        if key not in self._found:
            self._found[key] = self._lexicon.match(text, lang)
        return self._found[key]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an npz trained with --v2-dev")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings()
    items = load_items([*sorted(V2_DIR.glob("*.tsv")), *BUNDLED], "dev")
    texts = masked_texts(items, load_masker(settings))
    contexts = [item.context for item in items]
    model = TextModel(settings.e5_dir, args.model)
    read = _Read(model.read(texts, contexts), model.inputs.context_tokens)
    lexicon, policy = _Matched(ComplaintLexicon.load(settings.lexicon_file)), Policy.load()
    results = []
    for category, complaint, floor in itertools.product(CATEGORY, COMPLAINT, LEXICON_FLOOR):
        cutoffs = Cutoffs(category, complaint, floor)
        analyzer = ModelAnalyzer(read, lexicon, cutoffs)  # type: ignore[arg-type]
        evaluation = score_analyzer(items, texts, contexts, analyzer, policy)
        overall = evaluation.summary()["all"]
        results.append((overall["action_acc"] or 0.0, overall, cutoffs))
    results.sort(key=lambda row: -row[0])
    print(f"{len(items)} dev lines (v2 and v1 dev splits)")
    for _, overall, cutoffs in results:
        print(f"category {cutoffs.category:.2f} complaint {cutoffs.complaint:.2f}"
              f" lexicon floor {cutoffs.lexicon_floor:.2f}: action {overall['action_acc']:.3f}"
              f" complaint F1 {overall['complaint_f1']:.3f}")
    _, best, cutoffs = results[0]
    print(json.dumps({"cutoffs": dataclasses.asdict(cutoffs), "all": best}))


if __name__ == "__main__":
    main()
