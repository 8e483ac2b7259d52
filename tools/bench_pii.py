"""CPU per utterance of the personal-data masker (152-FZ: every utterance is masked before
it is stored or pushed, on the live path).

    python -m tools.bench_pii [--repeats 5]

Texts: every line of the training corpus (`corpus/`, ru and uk, with and without numbers),
plus the same lines with a card number, a phone and an IBAN spoken in words appended, so the
digit-reading paths run too. Prints CPU µs per utterance (`time.process_time`, best of the
repeats) per language and the slowest single utterance.
"""

from __future__ import annotations

import argparse
import time

from sentiment_svc.analysis.corpus import bundled_corpus
from sentiment_svc.analysis.pii import PiiMasker

SPOKEN_DIGITS = {
    "ru": " мой номер восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь,"
          " карта четыре пять шесть семь один два три четыре",
    "uk": " мій номер нуль шістдесят сім сто двадцять три сорок п'ять шістдесят сім,"
          " айбан ю ей тридцять два три нуль нуль",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    masker = PiiMasker()
    texts: dict[str, list[str]] = {"ru": [], "uk": []}
    for item in bundled_corpus():
        if item.lang in texts:
            texts[item.lang].append(item.text)
    masker.mask("прогрев", "ru")
    slowest = (0.0, "")
    for lang, lines in texts.items():
        lines = lines + [line + SPOKEN_DIGITS[lang] for line in lines]
        best = float("inf")
        for _ in range(args.repeats):
            start = time.process_time()
            for line in lines:
                began = time.process_time()
                masker.mask(line, lang)
                slowest = max(slowest, (time.process_time() - began, line))
            best = min(best, (time.process_time() - start) / len(lines))
        print(f"{lang}: {len(lines)} utterances, {best * 1e6:.0f} µs CPU per utterance")
    print(f"slowest single utterance: {slowest[0] * 1e3:.2f} ms CPU")


if __name__ == "__main__":
    main()
