"""Recognition noise: a copy of the training corpus as Whisper base writes it on telephone audio.

    python -m tools.asr_noise OUT_DIR [INPUT.tsv ...] [--seed 0] [--rate [LANG:]KIND=P ...]
        [--suffix -asr]

Reads corpus TSVs (the format of `sentiment_svc/analysis/corpus.py`; by default the training
corpus, `corpus/v2/*.tsv` and the bundled `corpus_*.tsv`) and writes noised copies under the
same file names to OUT_DIR: each line's text and context turns with the slips Whisper makes,
a new id (the old one + `-asr`, or `-asr1`, `-asr2`, ... where that is what keeps the line in
its train/dev split), the same labels, and `slips` among its tags. A line the noise leaves
unchanged is not written. The held-out test set is refused as input and as output.

Each kind of slip (`Kind`) has a probability per place it can happen (`NoiseRates`): per
inflected word, per short word, per run of numbers, per word gap... The defaults are what
`tools.measure_asr_noise` measured between scripts and real Whisper output (BENCHMARKS.md,
"Recognition noise: measured vs synthetic"). One line's noise depends only on the seed and
its id. The summary printed at the end (JSON) gives the word error rate the noise made and
its mix of kinds, classified as the measurement classifies Whisper's. The words and letters
each kind works on are the language tables of `asr_noise.yaml` (`tools.asr_language`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path

from sentiment_svc.analysis.corpus import (
    BUNDLED,
    COLUMNS,
    OPTIONAL_COLUMNS,
    PLAIN,
    TURN_SEPARATOR,
    LabelledUtterance,
    read_corpus,
)
from tools.asr_language import LANGUAGES, digits_to_words, is_number_word, words_to_digits

ROOT = Path(__file__).resolve().parents[1]
TRAINING = (*sorted((ROOT / "corpus" / "v2").glob("*.tsv")), *BUNDLED)
SUFFIX = "-asr"
SLIPS = "slips"
PUNCTUATION = ".,!?;:…—"  # the marks Whisper may leave out (quotes and hyphens stay)
HELD_OUT = "heldout"  # any path through a folder so named is the held-out test set


class Kind(StrEnum):
    ENDING = "ending"  # a case, number or gender ending swapped: карту -> карта
    MERGE = "merge"  # two words written as one: не могу -> немогу
    SPLIT = "split"  # one word written as two: поэтому -> по этому
    HOMOPHONE = "homophone"  # spelt as heard: -тся/-ться, е/и, о/а, и/і, ґ/г
    MISHEARD = "misheard"  # another, similar-sounding word (and every other error)
    DIGITS = "digits"  # три тысячи <-> 3000
    DROP = "drop"  # a short word (preposition, particle) lost
    FILLER = "filler"  # ну, э, от inserted
    PUNCT = "punct"  # a punctuation mark or a capital letter lost


@dataclass(frozen=True)
class NoiseRates:
    """Probability of each kind of slip at each place it can happen."""

    ending: float = 0.03  # per word with an ending in ENDINGS
    merge: float = 0.02  # per short word followed by another word
    split: float = 0.02  # per word that starts with a prefix in PREFIXES
    homophone: float = 0.03  # per word with a letter pattern in HOMOPHONES
    misheard: float = 0.05  # per word of four letters or more
    digits: float = 0.5  # per number (a run of number words, or of digits)
    drop: float = 0.05  # per short word
    filler: float = 0.005  # per word (a filler before it)
    punct: float = 0.3  # per punctuation mark and per capital letter
    target_wer: float = 0.12  # the measured WER these rates reproduce on the training corpus


# Fitted to Whisper base on the scripted calls and 300 telephone prompts (BENCHMARKS.md):
# `python -m tools.measure_asr_noise --load tools/asr_noise_pairs.jsonl --fit`. No filler:
# read speech has none to mishear (add some for spontaneous speech with --rate filler=P).
DEFAULT_RATES = {
    "ru": NoiseRates(ending=0.1036, merge=0.0684, split=0.0424, homophone=0.0251,
                     misheard=0.1777, digits=0.3864, drop=0.0363, filler=0.0, punct=0.2391,
                     target_wer=0.191),
    "uk": NoiseRates(ending=0.404, merge=0.0363, split=0.0991, homophone=0.0302,
                     misheard=0.775, digits=0.7436, drop=0.0719, filler=0.0, punct=0.285,
                     target_wer=0.527),
}


DICTATED = ("", "-", ", ")  # how Whisper writes digits read one by one: 123, 1-2-3, 1, 2, 3
MIN_INFLECTED = 5  # shorter words keep their ending
MIN_MISHEARD = 4
MIN_SPLIT_REST = 3  # letters left after the prefix
MAX_ENDING = 3  # letters of an ending that may differ
MIN_STEM = 3
# Spellings of one sound: -тся/-ться, uk і/и, ґ/г, є/е, ї/і, akanye (о -> а), unstressed е/я
# -> и, doubled н, сч/щ.
SOUND_FOLDS = (("ться", "тся"), ("ґ", "г"), ("ї", "і"), ("є", "е"), ("і", "и"), ("о", "а"),
               ("я", "и"), ("е", "и"), ("нн", "н"), ("сч", "щ"), ("'", ""))


TOKEN = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


def ending_swaps(word: str, lang: str) -> tuple[str, ...]:
    """The word with its ending swapped (carefully: none for short or number words)."""
    if len(word) < MIN_INFLECTED or not word.isalpha() or is_number_word(word, lang):
        return ()
    for ending, others in LANGUAGES[lang].endings:
        if word.endswith(ending):
            return tuple(word[: -len(ending)] + other for other in others)
    return ()


def homophones(word: str, lang: str) -> tuple[str, ...]:
    """The word with one letter pattern spelt another way it sounds (never its first letter)."""
    variants = []
    for pattern, other in LANGUAGES[lang].homophones:
        for match in re.finditer(pattern, word[1:]):
            at = match.start() + 1
            variants.append(word[:at] + other + word[at + len(pattern):])
    return tuple(dict.fromkeys(v for v in variants if v != word))


def split_point(word: str, lang: str) -> int:
    """Where the word splits after a prefix (0: it does not)."""
    for prefix in LANGUAGES[lang].prefixes:
        if word.startswith(prefix) and len(word) - len(prefix) >= MIN_SPLIT_REST:
            return len(prefix)
    return 0


def sound(word: str) -> str:
    """The word with the spellings of one sound folded together (for the homophone test)."""
    for spelt, heard in SOUND_FOLDS:
        word = word.replace(spelt, heard)
    return word


def same_stem(said: str, heard: str) -> bool:
    """Whether two words differ only in an ending (of up to MAX_ENDING letters)."""
    stem = next((k for k, (a, b) in enumerate(zip(said, heard, strict=False)) if a != b),
                min(len(said), len(heard)))
    return stem >= MIN_STEM and max(len(said), len(heard)) - stem <= MAX_ENDING


def is_short(word: str, lang: str) -> bool:
    return word.lower() in LANGUAGES[lang].short_words


class Noiser:
    """Applies `NoiseRates` to one language's utterances; `vocabulary`: the words a misheard
    word may become (those of a similar spelling), e.g. every word of the corpus."""

    def __init__(self, lang: str, rates: NoiseRates, vocabulary: Iterable[str] = ()) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"no noise model for language {lang!r} (only ru and uk)")
        self.lang, self.rates = lang, rates
        self._vocabulary = sorted({w for w in vocabulary if len(w) >= MIN_MISHEARD})

    def noise(self, text: str, rng: random.Random) -> tuple[str, Counter[Kind]]:
        """The text as it might come out of the recogniser, and how many slips of each kind."""
        done: Counter[Kind] = Counter()
        tokens = [TOKEN.match(token).groups() for token in text.split()]
        tokens = self._punctuation(tokens, rng, done)
        tokens = self._numbers(tokens, rng, done)
        out: list[tuple[str, str, str]] = []
        i = 0
        while i < len(tokens):
            lead, core, trail = tokens[i]
            if core and rng.random() < self.rates.filler:
                out.append(("", rng.choice(LANGUAGES[self.lang].fillers), ""))
                done[Kind.FILLER] += 1
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if is_short(core, self.lang):
                if nxt and nxt[1].isalpha() and rng.random() < self.rates.merge:
                    out.append((lead, core + nxt[1], nxt[2]))
                    done[Kind.MERGE] += 1
                    i += 2
                    continue
                if rng.random() < self.rates.drop:
                    done[Kind.DROP] += 1
                    i += 1
                    continue
            out.append((lead, self._word(core, rng, done), trail))
            i += 1
        return " ".join("".join(token) for token in out if "".join(token)), done

    def _word(self, core: str, rng: random.Random, done: Counter[Kind]) -> str:
        word = core.lower()
        if not word.isalpha():  # numbers, hyphenated and apostrophe words stay as they are
            return core
        if (cut := split_point(word, self.lang)) and rng.random() < self.rates.split:
            done[Kind.SPLIT] += 1
            return _recase(core, f"{word[:cut]} {word[cut:]}")
        if (swaps := ending_swaps(word, self.lang)) and rng.random() < self.rates.ending:
            done[Kind.ENDING] += 1
            return _recase(core, rng.choice(swaps))
        if (sounds := homophones(word, self.lang)) and rng.random() < self.rates.homophone:
            done[Kind.HOMOPHONE] += 1
            return _recase(core, rng.choice(sounds))
        if len(word) >= MIN_MISHEARD and rng.random() < self.rates.misheard:
            done[Kind.MISHEARD] += 1
            return _recase(core, self._misheard(word, rng))
        return core

    def _misheard(self, word: str, rng: random.Random) -> str:
        """A vocabulary word one or two letters away with the same first letter that is no
        other kind of slip of it (another ending, another spelling), else the word with a
        letter of its stem lost."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        near = [choice for choice, _, _ in process.extract(
            word, self._vocabulary, scorer=Levenshtein.distance, score_cutoff=2, limit=None)
            if choice[0] == word[0] and not same_stem(word, choice)
            and sound(choice) != sound(word)]
        if near:
            return rng.choice(sorted(near))
        at = rng.randrange(1, max(2, len(word) - MAX_ENDING))
        return word[:at] + word[at + 1:]

    def _punctuation(self, tokens, rng: random.Random, done: Counter[Kind]):
        def lost(char: str) -> bool:
            gone = (char.isupper() or char in PUNCTUATION) and rng.random() < self.rates.punct
            done[Kind.PUNCT] += gone
            return gone

        return [("".join(c for c in lead if not lost(c)),
                 core[:1].lower() + core[1:] if core[:1] and lost(core[0]) else core,
                 "".join(c for c in trail if not lost(c))) for lead, core, trail in tokens]

    def _numbers(self, tokens, rng: random.Random, done: Counter[Kind]):
        out, i = [], 0
        while i < len(tokens):
            end = i
            while end < len(tokens) and is_number_word(tokens[end][1], self.lang):
                end += 1
                if tokens[end - 1][2]:  # a comma or a full stop ends the number
                    break
            if end > i:
                if rng.random() < self.rates.digits:
                    digits = words_to_digits([core for _, core, _ in tokens[i:end]], self.lang,
                                             rng.choice(DICTATED))
                    out.append((tokens[i][0], digits, tokens[end - 1][2]))
                    done[Kind.DIGITS] += 1
                else:
                    out += tokens[i:end]
                i = end
                continue
            lead, core, trail = tokens[i]
            if core.isdigit() and rng.random() < self.rates.digits:
                core = digits_to_words(core, self.lang)
                done[Kind.DIGITS] += 1
            out.append((lead, core, trail))
            i += 1
        return out


def _recase(original: str, word: str) -> str:
    return word[:1].upper() + word[1:] if original[:1].isupper() else word


def check_not_held_out(path: Path) -> None:
    if any(part.lower() == HELD_OUT for part in path.resolve().parts):
        raise SystemExit(f"{path}: the held-out test set is never noised nor written to")


def noised_id(item: LabelledUtterance, suffix: str) -> str:
    """The id plus `suffix` (then a counter) such that the line stays in its split."""
    for attempt in ("", *map(str, range(1, 100))):
        candidate = f"{item.id}{suffix}{attempt}"
        if replace(item, id=candidate).split == item.split:
            return candidate
    raise AssertionError("unreachable: one in five ids is dev")


def noise_item(item: LabelledUtterance, noiser: Noiser, seed: int,
               suffix: str = SUFFIX) -> tuple[LabelledUtterance, Counter[Kind]]:
    rng = random.Random(f"{seed}:{item.id}")
    text, done = noiser.noise(item.text, rng)
    context = []
    for turn in item.context:
        speaker, _, said = turn.partition(":")
        noised, turn_done = noiser.noise(said.strip(), rng)
        context.append(f"{speaker}: {noised}")
        done += turn_done
    tags = tuple(t for t in item.tags if t != PLAIN)
    return replace(item, id=noised_id(item, suffix), text=text, context=tuple(context),
                   tags=tags if SLIPS in tags else (*tags, SLIPS)), done


def write_corpus(path: Path, items: Sequence[LabelledUtterance]) -> None:
    """The corpus format with all nine columns (a noised copy always has tags)."""
    rows = [(*COLUMNS, *OPTIONAL_COLUMNS)]
    rows += [(item.id, item.lang, item.text, item.sentiment, str(int(item.complaint)),
              ",".join(item.categories) or "-", item.action,
              TURN_SEPARATOR.join(item.context) or "-", ",".join(item.tags))
             for item in items]
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def vocabulary(items: Iterable[LabelledUtterance]) -> dict[str, set[str]]:
    words: dict[str, set[str]] = {"ru": set(), "uk": set()}
    for item in items:
        words.setdefault(item.lang, set()).update(re.findall(r"\w+", item.text.lower()))
    return words


def noise_files(inputs: Sequence[Path], out_dir: Path, seed: int = 0,
                rates: Mapping[str, NoiseRates] = DEFAULT_RATES, suffix: str = SUFFIX) -> dict:
    """Writes the noised copies; returns the summary (lines, WER and mix of kinds)."""
    from tools.measure_asr_noise import Tally

    for path in (*inputs, out_dir):
        check_not_held_out(path)
    names = [path.name for path in inputs]
    if len(set(names)) != len(names):
        raise SystemExit("two inputs share a file name; their copies would overwrite each other")
    if any(path.resolve().parent == out_dir.resolve() for path in inputs):
        raise SystemExit(f"{out_dir}: holds an input file; write the copies elsewhere")
    corpora = {path: read_corpus(path) for path in inputs}
    words = vocabulary(item for items in corpora.values() for item in items)
    noisers = {lang: Noiser(lang, rates[lang], vocab) for lang, vocab in words.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    tallies, written, applied = {"all": Tally(), **{lang: Tally() for lang in words}}, 0, Counter()
    for path, items in corpora.items():
        copies = []
        for item in items:
            copy, done = noise_item(item, noisers[item.lang], seed, suffix)
            for tally in (tallies["all"], tallies[item.lang]):
                tally.add(item.text, copy.text, item.lang)
            applied += done
            if copy.text != item.text or copy.context != item.context:
                copies.append(copy)
        write_corpus(out_dir / path.name, copies)
        written += len(copies)
    return {"lines": sum(map(len, corpora.values())), "written": written,
            "slips_applied": {kind.value: applied[kind] for kind in Kind},
            "target_wer": {lang: rates[lang].target_wer for lang in words},
            **{lang: tally.summary() for lang, tally in tallies.items()}}


def parse_rates(pairs: Sequence[str]) -> dict[str, NoiseRates]:
    """`KIND=P` (both languages) or `LANG:KIND=P` over the defaults."""
    names = {f.name for f in fields(NoiseRates)}
    rates = dict(DEFAULT_RATES)
    for pair in pairs:
        name, _, value = pair.partition("=")
        lang, _, name = name.rpartition(":")
        if name not in names or lang not in ("", *rates):
            raise SystemExit(f"--rate {pair}: [ru:|uk:]KIND=P, KIND one of {sorted(names)}")
        for each in [lang] if lang else list(rates):
            rates[each] = replace(rates[each], **{name: float(value)})
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("inputs", type=Path, nargs="*", help="default: the training corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", action="append", default=[], metavar="[LANG:]KIND=P")
    parser.add_argument("--suffix", default=SUFFIX)
    args = parser.parse_args(argv)
    summary = noise_files(args.inputs or TRAINING, args.out_dir, args.seed,
                          parse_rates(args.rate), args.suffix)
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
