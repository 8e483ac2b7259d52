"""CPU per utterance: today's text analysis vs the fine-tuned model (issue 23).

    python -m tools.bench_text_model [--repeats 3] [--context-tokens 16,24,32,48] [--calls]

One utterance per pass (the live case: a call's utterance is analysed as soon as it ends),
one thread, both in ONNX Runtime: today's e5 (`models/e5-small/model.onnx`) + the sentiment
head, against the fine-tuned model (`models/e5-small-tuned/model.onnx`, heads included) with
no context and with the utterance's call context (cut to its last `--context-tokens`). The
lexicon, run by both, is left out.
Texts: the v1 corpus' dev split, and for the context case the first `CONTEXT_ITEMS` lines of
`corpus/v2` that have context (never the held-out set). Prints CPU ms per utterance
(`time.process_time`, best of the repeats) and the ratios.

`--calls` also times whole calls: the scripts of the 30 scripted calls v2 (both speakers'
turns, `audio_samples/scripted/v2_*.json`), each turn through `CallPipeline` as the live path
runs it (analysis, lexicon and policy): today's analyzer reads every turn; the tuned one reads
only the customer's (the operator's go to the lexicon alone), with each context budget.
Prints CPU ms per call and the ratios.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.analysis.analyzer import UtteranceAnalyzer
from sentiment_svc.analysis.corpus import bundled_corpus, read_corpus
from sentiment_svc.analysis.lexicon import ComplaintLexicon
from sentiment_svc.analysis.model_analyzer import ModelAnalyzer
from sentiment_svc.analysis.sentiment import SentimentHead
from sentiment_svc.analysis.text_encoder import E5Encoder
from sentiment_svc.analysis.text_model import MAX_CONTEXT_TOKENS, OnnxTextModel
from sentiment_svc.config import Settings
from sentiment_svc.frames import Channel, SpeechSegment, Transcript

TUNED_DIR = "e5-small-tuned"
ROOT = Path(__file__).resolve().parents[1]
V2_DIR = ROOT / "corpus" / "v2"
SCRIPTED = ROOT / "audio_samples" / "scripted"
CONTEXT_ITEMS = 200


def cpu_ms_per_call(run: Callable[[int], object], count: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for index in range(count):
            run(index)
        best = min(best, (time.process_time() - start) / count * 1000)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--context-tokens", default=str(MAX_CONTEXT_TOKENS),
                        help="comma-separated context budgets (tokens) to time")
    parser.add_argument("--calls", action="store_true", help="time whole scripted calls too")
    args = parser.parse_args(argv)
    settings = Settings()
    items = [item for item in bundled_corpus() if item.split == "dev"]
    encoder, head = E5Encoder(settings.e5_dir), SentimentHead.load()
    tuned = OnnxTextModel(settings.models_dir / TUNED_DIR)
    for item in items[:5]:  # warm-up
        head.predict(encoder.embed([item.text]))
        tuned.read([item.text], [item.context])
    today = cpu_ms_per_call(lambda i: head.predict(encoder.embed([items[i].text])),
                            len(items), args.repeats)
    bare = cpu_ms_per_call(lambda i: tuned.read([items[i].text]), len(items), args.repeats)
    talk = [item for path in sorted(V2_DIR.glob("*.tsv")) for item in read_corpus(path)
            if item.context][:CONTEXT_ITEMS]
    talk_today = cpu_ms_per_call(lambda i: head.predict(encoder.embed([talk[i].text])),
                                 len(talk), args.repeats)
    budgets = {}
    for budget in (int(value) for value in args.context_tokens.split(",")):
        tuned.inputs.context_tokens = budget
        budgets[budget] = cpu_ms_per_call(
            lambda i: tuned.read([talk[i].text], [talk[i].context]), len(talk), args.repeats)
    print(f"{len(items)} v1 dev utterances, then {len(talk)} v2 ones with call context;"
          " one per pass, one thread")
    print(f"today (e5 + sentiment head):     {today:6.2f} ms CPU per utterance")
    print(f"tuned model, no context:         {bare:6.2f} ms ({bare / today:.2f}x)")
    print(f"v2 lines, today:                 {talk_today:6.2f} ms")
    for budget, context in budgets.items():
        print(f"v2 lines, tuned, context {budget:3d} tokens: {context:6.2f} ms"
              f" ({context / talk_today:.2f}x)")
    if args.calls:
        time_calls(encoder, tuned, budgets, args.repeats)


def call_scripts() -> list[list[Transcript]]:
    """The scripted calls v2 as the recogniser would hand them over if it heard every word."""
    silence = np.zeros(160, dtype=np.float32)
    calls = []
    for path in sorted(SCRIPTED.glob("v2_*.json")):
        turns = json.loads(path.read_text(encoding="utf-8"))["turns"]
        calls.append([
            Transcript(SpeechSegment(Channel(turn["speaker"]), turn["start"], turn["end"],
                                     silence), turn["text"], turn["lang"])
            for turn in turns
        ])
    return calls


def time_calls(encoder: E5Encoder, tuned: OnnxTextModel, budgets: dict[int, float],
               repeats: int) -> None:
    from sentiment_svc.pipeline import CallPipeline, Engines, load_analyzer

    calls = call_scripts()
    policy = Policy.load()
    today = load_analyzer(Settings(), encoder)
    model = ModelAnalyzer(tuned, ComplaintLexicon.load())

    def run(analyzer: UtteranceAnalyzer | ModelAnalyzer) -> Callable[[int], object]:
        def one(index: int) -> None:
            pipeline = CallPipeline(Engines(None, analyzer, policy, None))  # type: ignore[arg-type]
            for transcript in calls[index]:
                pipeline.analyze([transcript])
        return one

    turns = sum(len(call) for call in calls)
    customer = sum(t.segment.channel is Channel.CUSTOMER for call in calls for t in call)
    print(f"{len(calls)} scripted calls, {turns} turns ({customer} the customer's),"
          " one turn per pass, one thread")
    base = cpu_ms_per_call(run(today), len(calls), repeats)
    print(f"today, every turn:               {base:6.2f} ms CPU per call")
    for budget in (0, *budgets):
        tuned.inputs.context_tokens = budget
        cost = cpu_ms_per_call(run(model), len(calls), repeats)
        print(f"tuned, customer turns, context {budget:3d}: {cost:6.2f} ms ({cost / base:.2f}x)")


if __name__ == "__main__":
    main()
