"""CPU per utterance: today's text analysis vs the fine-tuned model (issue 23).

    python -m tools.bench_text_model [--repeats 3] [--context-tokens 16,24,32,48]

One utterance per pass (the live case: a call's utterance is analysed as soon as it ends),
one thread, both in ONNX Runtime: today's e5 (`models/e5-small/model.onnx`) + the sentiment
head, against the fine-tuned model (`models/e5-small-tuned/model.onnx`, heads included) with
no context and with the utterance's call context (cut to its last `--context-tokens`). The
lexicon, run by both, is left out.
Texts: the v1 corpus' dev split, and for the context case the first `CONTEXT_ITEMS` lines of
`corpus/v2` that have context (never the held-out set). Prints CPU ms per utterance
(`time.process_time`, best of the repeats) and the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from sentiment_svc.analysis.corpus import bundled_corpus, read_corpus
from sentiment_svc.analysis.sentiment import SentimentHead
from sentiment_svc.analysis.text_encoder import E5Encoder
from sentiment_svc.analysis.text_model import MAX_CONTEXT_TOKENS, OnnxTextModel
from sentiment_svc.config import Settings

TUNED_DIR = "e5-small-tuned"
V2_DIR = Path(__file__).resolve().parents[1] / "corpus" / "v2"
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


if __name__ == "__main__":
    main()
