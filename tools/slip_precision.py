"""How often the lexicon's slip matching is right (issue 23).

    python -m tools.slip_precision FILE.tsv...

A slip match is a category the lexicon finds in an utterance only by reading an unknown word
as the pattern word it is near (`analysis/slips.py`): found with slips, not without. Its
precision is the share of those categories the line's labels carry; beside it, the precision of
the categories found without slips, for comparison. Prints, per language and overall, the
utterances read, the slip matches, the right ones and both precisions, then the JSON of it.
Held-out files may be scored (this tunes nothing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sentiment_svc.analysis.corpus import CUSTOMER_CATEGORIES
from sentiment_svc.analysis.evaluate import load_items
from sentiment_svc.analysis.lexicon import ComplaintLexicon


def customer_categories(lexicon: ComplaintLexicon, text: str, lang: str) -> set[str]:
    return set(lexicon.categories(text, lang)) & set(CUSTOMER_CATEGORIES)


def slip_matches(lexicon: ComplaintLexicon, exact: ComplaintLexicon, text: str, lang: str
                 ) -> set[str]:
    """The customer categories found only through a slip."""
    return customer_categories(lexicon, text, lang) - customer_categories(exact, text, lang)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    lexicon = ComplaintLexicon.load()
    exact = lexicon.without_slips()
    counts: dict[str, dict[str, int]] = {}
    for item in load_items(args.files):
        heard = customer_categories(exact, item.text, item.lang)
        found = slip_matches(lexicon, exact, item.text, item.lang)
        for group in (item.lang, "all"):
            row = counts.setdefault(group, dict.fromkeys(
                ("utterances", "slip_matches", "right", "exact_matches", "exact_right"), 0))
            row["utterances"] += 1
            row["slip_matches"] += len(found)
            row["right"] += len(found & set(item.categories))
            row["exact_matches"] += len(heard)
            row["exact_right"] += len(heard & set(item.categories))
    summary = {group: {**row, "precision": _share(row["right"], row["slip_matches"]),
                       "exact_precision": _share(row["exact_right"], row["exact_matches"])}
               for group, row in counts.items()}
    for group, row in summary.items():
        print(f"{group}: {row['utterances']} utterances, {row['slip_matches']} slip matches,"
              f" {row['right']} right, precision {row['precision']}"
              f" (without slips: {row['exact_matches']} matches, precision"
              f" {row['exact_precision']})")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
