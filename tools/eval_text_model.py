"""Score the fine-tuned text model's analysis and alerts on corpus files (issue 23).

    python -m tools.eval_text_model FILE.tsv... [--no-context] [--context-tokens N]
        [--torch] [--model NPZ] [--split dev|train|all] [--cutoffs CATEGORY,COMPLAINT,FLOOR]

Like `sentiment-svc eval-text` (same masking, lexicon, escalation policy and scores: see
`analysis/evaluate.py`), but the analysis is `ModelAnalyzer`'s: the fine-tuned model
(`models/e5-small-tuned/`, built by `make install`; `--torch`: the committed npz over
`models/e5-small` in torch) plus the lexicon's categories. Each utterance is read with the
call context its line gives, cut to its last `--context-tokens` (default all the model was
trained on, 48; the service reads SENTIMENT_TEXT_CONTEXT_TOKENS); `--no-context` reads every
utterance on its own, as `eval-text` does. `--model NPZ`: a candidate from
`tools.train_text_model --out` in torch instead of the committed one. `--split dev`: only the
lines of that split (a candidate trained with `--v2-dev` never saw v2's dev lines).
`--cutoffs 0.5,0.5,0`: other cutoffs than `model_analyzer.Cutoffs()` (category, complaint,
lexicon floor; `tools.calibrate_cutoffs` chooses them).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.analysis.corpus import LabelledUtterance
from sentiment_svc.analysis.evaluate import (
    FIRST_READING,
    SPLITS,
    Evaluation,
    Prediction,
    customer_transcript,
    load_items,
    score,
    suggested_action,
)
from sentiment_svc.analysis.lexicon import ComplaintLexicon
from sentiment_svc.analysis.model_analyzer import Cutoffs, ModelAnalyzer
from sentiment_svc.analysis.pii import PiiMasker
from sentiment_svc.analysis.text_model import MAX_CONTEXT_TOKENS, OnnxTextModel, TextModel
from sentiment_svc.config import Settings
from sentiment_svc.pipeline import load_masker

TUNED_DIR = "e5-small-tuned"


def masked_texts(items: Sequence[LabelledUtterance], masker: PiiMasker | None) -> list[str]:
    """Each line's text as the service would read it: personal data masked."""
    return [masker.mask(item.text, item.lang).text if masker and item.text else item.text
            for item in items]


def score_analyzer(items: Sequence[LabelledUtterance], texts: Sequence[str],
                   contexts: Sequence[Sequence[str]], analyzer: ModelAnalyzer, policy: Policy
                   ) -> Evaluation:
    """Each line read as a customer's utterance heard on its own, the action the policy
    suggests after it, scored against its labels."""
    transcripts = [customer_transcript(text, item.lang)
                   for text, item in zip(texts, items, strict=True)]
    analyses = analyzer.analyze(transcripts, [FIRST_READING] * len(items), contexts)
    return score(items, [Prediction(a, suggested_action(policy, a)) for a in analyses])


def _cutoffs(text: str) -> Cutoffs:
    try:
        category, complaint, floor = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("three numbers: category,complaint,floor") from None
    return Cutoffs(category, complaint, floor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--no-context", action="store_true")
    parser.add_argument("--torch", action="store_true", help="the npz in torch, not the ONNX")
    parser.add_argument("--model", type=Path, help="an npz to score in torch")
    parser.add_argument("--context-tokens", type=int, default=MAX_CONTEXT_TOKENS,
                        help="the context's last tokens kept")
    parser.add_argument("--split", choices=SPLITS, default="all", help="only this split's lines")
    parser.add_argument("--cutoffs", type=_cutoffs, default=Cutoffs(),
                        help="category,complaint,lexicon_floor")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings()
    items = load_items(args.files, args.split)
    model = (TextModel(settings.e5_dir, args.model) if args.model
             else TextModel(settings.e5_dir) if args.torch
             else OnnxTextModel(settings.models_dir / TUNED_DIR))
    model.inputs.context_tokens = args.context_tokens
    analyzer = ModelAnalyzer(model, ComplaintLexicon.load(settings.lexicon_file), args.cutoffs)
    contexts = [() if args.no_context else item.context for item in items]
    evaluation = score_analyzer(items, masked_texts(items, load_masker(settings)), contexts,
                                analyzer, Policy.load(settings.policy_file))
    print(evaluation.report())
    print(json.dumps(evaluation.summary(), ensure_ascii=False))


if __name__ == "__main__":
    main()
