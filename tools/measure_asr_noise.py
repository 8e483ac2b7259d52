"""What Whisper really gets wrong: script against recognised text, by kind of slip.

    python -m tools.measure_asr_noise [--scripted DIR] [--manifest TSV] [--prefix P]
        [--per-language N] [--only scripted|prompts] [--save FILE.jsonl]
    python -m tools.measure_asr_noise --load FILE.jsonl ... [--fit]

Recognises, with the service's recogniser (`WhisperRecognizer`, the default model and
settings, the turn's language given), every turn of the scripted calls (`audio_samples/
scripted/*.wav`, cut at the turn's times in its `<name>.json`, on its channel) and the
transcribed prompts of a manifest (by default the bundled real telephone prompts,
`audio_samples/real/manifest.tsv`; `--manifest ../shared/audio/manifest.tsv --prefix
asterisk_core_sounds_ --per-language 75` for a seeded sample of the full sets). Each
(script, recognised text) pair is aligned word by word (Levenshtein, plus two words written
as one and one as two) and every difference is put in one of `tools.asr_noise.Kind`'s kinds.
Prints a JSON line for each set and language, and for all: word error rate (jiwer), and per
kind the slips found, the places they could have happened (as `tools.asr_noise` counts them)
and their ratio, which is what `NoiseRates` takes. `--save` keeps the pairs; `--load`
measures saved pairs again without a model. `tools.asr_noise` scores its own noise with the
same `Tally`. `--fit` prints, per language, the `NoiseRates` whose noise on the training
corpus has the measured WER and mix of kinds (`tools.asr_noise.DEFAULT_RATES` are those).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sentiment_svc.analysis.corpus import LabelledUtterance, read_corpus
from tools.asr_language import APOSTROPHES, LANGUAGES, is_number_word
from tools.asr_noise import (
    PUNCTUATION,
    TRAINING,
    Kind,
    Noiser,
    NoiseRates,
    ending_swaps,
    homophones,
    is_short,
    noise_item,
    same_stem,
    sound,
    split_point,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPTED = ROOT / "audio_samples" / "scripted"
PROMPTS = ROOT / "audio_samples" / "real" / "manifest.tsv"
MARGIN_S = 0.2  # audio kept around a scripted turn (its times mark the speech itself)
WORD = re.compile(r"[\w']+")
MARKS = re.compile(f"[{PUNCTUATION}]")
FIT_ROUNDS = 6
FIT_LINES = 1500  # training lines per language the rates are fitted on
FIT_SEED = 0
EDITS = {Kind.MERGE: 2, Kind.SPLIT: 2}  # word errors per slip; every other kind: 1 per word


def words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("ё", "е").translate(APOSTROPHES))


def _has_digit(said: tuple[str, ...]) -> bool:
    return any(c.isdigit() for word in said for c in word)


def _beside_digits(steps, at: int) -> bool:
    """Whether the run of differing steps around `at` writes digits somewhere."""
    start = end = at
    while start > 0 and steps[start - 1][0] != "equal":
        start -= 1
    while end < len(steps) - 1 and steps[end + 1][0] != "equal":
        end += 1
    return any(_has_digit(ref + hyp) for _, ref, hyp in steps[start:end + 1])


def is_numeric(word: str, lang: str) -> bool:
    return any(c.isdigit() for c in word) or is_number_word(word, lang)


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, tuple[str, ...],
                                                               tuple[str, ...]]]:
    """Fewest edits turning ref into hyp: (op, ref words, hyp words) with op one of equal,
    sub, del, ins, merge (two ref words written as one) and split (one as two)."""
    n, m = len(ref), len(hyp)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[str, int, int]]] = [[("", 0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == j == 0:
                continue
            options = []
            if i and j:
                same = ref[i - 1] == hyp[j - 1]
                options.append((cost[i - 1][j - 1] + (0 if same else _sub_cost(ref[i - 1],
                                                                                hyp[j - 1])),
                                "equal" if same else "sub", 1, 1))
            if i > 1 and j and ref[i - 2] + ref[i - 1] == hyp[j - 1]:
                options.append((cost[i - 2][j - 1] + 1, "merge", 2, 1))
            if i and j > 1 and ref[i - 1] == hyp[j - 2] + hyp[j - 1]:
                options.append((cost[i - 1][j - 2] + 1, "split", 1, 2))
            if i:
                options.append((cost[i - 1][j] + 1, "del", 1, 0))
            if j:
                options.append((cost[i][j - 1] + 1, "ins", 0, 1))
            best = min(options, key=lambda option: option[0])
            cost[i][j], back[i][j] = best[0], best[1:]
    ops = []
    i, j = n, m
    while i or j:
        op, di, dj = back[i][j]
        ops.append((op, tuple(ref[i - di:i]), tuple(hyp[j - dj:j])))
        i, j = i - di, j - dj
    return ops[::-1]


def _sub_cost(said: str, heard: str) -> float:
    """1, and a little more the less alike the words are, so that of equally short
    alignments the one pairing similar words (or two numbers) wins."""
    from rapidfuzz.distance import Levenshtein

    if any(c.isdigit() for c in said + heard):
        return 1.0
    return 1.0 + 0.1 * Levenshtein.normalized_distance(said, heard)


def classify(op: str, ref: tuple[str, ...], hyp: tuple[str, ...], lang: str,
             beside_digits: bool = False) -> Kind | None:
    """The kind of one alignment step (None: the words agree): a number's words lost or
    added count as digits among differing steps that write digits (`beside_digits`)."""
    if op == "equal":
        return None
    if op in ("merge", "split"):
        return Kind.MERGE if op == "merge" else Kind.SPLIT
    if _has_digit(ref + hyp) or (beside_digits and is_numeric((ref + hyp)[0], lang)):
        return Kind.DIGITS
    if op == "del":
        return Kind.DROP if is_short(ref[0], lang) else Kind.MISHEARD
    if op == "ins":
        return Kind.FILLER if hyp[0] in LANGUAGES[lang].fillers else Kind.MISHEARD
    said, heard = ref[0], hyp[0]
    if sound(said) == sound(heard):
        return Kind.HOMOPHONE
    if same_stem(said, heard):
        return Kind.ENDING
    return Kind.MISHEARD


def places(text: str, lang: str) -> Counter[Kind]:
    """Where each kind of slip could happen in a script, counted as `NoiseRates` counts."""
    said = words(text)
    found: Counter[Kind] = Counter()
    found[Kind.ENDING] = sum(bool(ending_swaps(w, lang)) for w in said)
    found[Kind.MERGE] = sum(is_short(w, lang) and nxt.isalpha()
                            for w, nxt in zip(said, said[1:], strict=False))
    found[Kind.SPLIT] = sum(bool(split_point(w, lang)) for w in said if w.isalpha())
    found[Kind.HOMOPHONE] = sum(bool(homophones(w, lang)) for w in said if w.isalpha())
    found[Kind.MISHEARD] = sum(len(w) >= 4 and w.isalpha() for w in said)
    found[Kind.DIGITS] = sum(is_numeric(w, lang) and not (k and is_numeric(said[k - 1], lang))
                             for k, w in enumerate(said))
    found[Kind.DROP] = sum(is_short(w, lang) for w in said)
    found[Kind.FILLER] = len(said)
    found[Kind.PUNCT] = len(MARKS.findall(text)) + sum(c.isupper() for c in text)
    return found


@dataclass
class Tally:
    """Slips by kind over many (script, recognised) pairs, and the WER per language."""

    pairs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    slips: Counter[Kind] = field(default_factory=Counter)
    errors: Counter[Kind] = field(default_factory=Counter)
    places: Counter[Kind] = field(default_factory=Counter)

    def add(self, script: str, heard: str, lang: str) -> None:
        self.pairs.setdefault(lang, []).append((" ".join(words(script)), " ".join(words(heard))))
        self.places += places(script, lang)
        previous = None
        steps = align(words(script), words(heard))
        for k, (op, ref, hyp) in enumerate(steps):
            kind = classify(op, ref, hyp, lang, _beside_digits(steps, k))
            if kind is not None:
                self.errors[kind] += EDITS.get(kind, 1)
                # a number's words rewritten in one go are one slip
                self.slips[kind] += not (kind is Kind.DIGITS and previous is Kind.DIGITS)
            previous = kind
        lost = (len(MARKS.findall(script)) - len(MARKS.findall(heard)),
                sum(c.isupper() for c in script) - sum(c.isupper() for c in heard))
        self.slips[Kind.PUNCT] += sum(max(0, n) for n in lost)

    def summary(self) -> dict:
        import jiwer

        every = [pair for pairs in self.pairs.values() for pair in pairs]
        total = sum(len(ref.split()) for ref, _ in every)
        out: dict = {"utterances": len(every), "words": total}
        if not every:
            return out
        out["wer"] = round(jiwer.wer(*map(list, zip(*every, strict=True))), 3)
        for lang, pairs in sorted(self.pairs.items()):
            out[f"wer_{lang}"] = round(jiwer.wer(*map(list, zip(*pairs, strict=True))), 3)
        out["kinds"] = {
            kind.value: {"slips": self.slips[kind], "places": self.places[kind],
                         "rate": round(self.slips[kind] / max(1, self.places[kind]), 4),
                         "wer_part": round(self.errors[kind] / max(1, total), 4)}
            for kind in Kind}
        return out


def scripted_pairs(folder: Path) -> list[dict]:
    """Each scripted turn recognised from its own stretch of its channel."""
    from sentiment_svc.audio.decode import decode_file, resample_to_16k

    recognizer = _recognizer()
    pairs = []
    for wav in sorted(folder.glob("*.wav")):
        data = json.loads(wav.with_suffix(".json").read_text(encoding="utf-8"))
        audio = decode_file(wav)
        for turn in data["turns"] if isinstance(data, dict) else data:
            rate = audio.sample_rate
            start = max(0, int((turn["start"] - MARGIN_S) * rate))
            channel = audio.samples[start:int((turn["end"] + MARGIN_S) * rate), turn["channel"]]
            heard = recognizer.recognize(resample_to_16k(channel, rate), (turn["lang"],))
            pairs.append({"source": f"{wav.name}@{turn['start']}", "lang": turn["lang"],
                          "script": turn["text"], "heard": heard.text.strip()})
    return pairs


def prompt_pairs(manifest: Path, prefix: str, per_language: int | None,
                 seed: int = 1) -> list[dict]:
    """Transcribed 1-12 s prompts of a manifest (a seeded sample per language if asked)."""
    from sentiment_svc.audio.decode import load_call

    with manifest.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t")
                if row["transcript"] and row["language"] in ("ru", "uk")
                and row["path"].startswith(prefix) and 1.0 < float(row["duration_s"]) < 12.0]
    if per_language is not None:
        rng = random.Random(seed)
        rows = [row for lang in ("ru", "uk") for row in rng.sample(
            [r for r in rows if r["language"] == lang],
            min(per_language, sum(r["language"] == lang for r in rows)))]
    recognizer = _recognizer()
    return [{"source": row["path"], "lang": row["language"], "script": row["transcript"],
             "heard": recognizer.recognize(load_call(manifest.parent / row["path"]).customer,
                                           (row["language"],)).text.strip()}
            for row in rows]


_RECOGNIZER = None


def _recognizer():
    global _RECOGNIZER
    if _RECOGNIZER is None:
        from sentiment_svc.asr.whisper import WhisperRecognizer
        from sentiment_svc.config import Settings

        _RECOGNIZER = WhisperRecognizer(Settings().whisper_dir)
    return _RECOGNIZER


def measure(pairs: Sequence[dict]) -> dict:
    tally = Tally()
    for pair in pairs:
        tally.add(pair["script"], pair["heard"], pair["lang"])
    return tally.summary()


def fit_rates(measured: dict, items: Sequence[LabelledUtterance], lang: str,
              rounds: int = FIT_ROUNDS) -> NoiseRates:
    """Rates whose noise on `items` has the WER `measured` (a `Tally.summary()`) found, from
    the same kinds: each kind's share of the WER is scaled to the measured one, round by
    round. Numbers and punctuation keep their measured rate per place (how many numbers a
    text has is the text's, not the recogniser's), and the share of the WER the numbers
    then lack or add goes to misheard words."""
    wanted = {kind: wanted["wer_part"] for kind, wanted in measured["kinds"].items()}
    rates = NoiseRates(**{kind.value: min(1.0, measured["kinds"][kind]["rate"])
                          for kind in Kind}, target_wer=measured["wer"])
    vocabulary = {word for item in items for word in words(item.text)}
    for _ in range(rounds):
        noiser, tally = Noiser(lang, rates, vocabulary), Tally()
        for item in items:
            tally.add(item.text, noise_item(item, noiser, FIT_SEED)[0].text, lang)
        made = {kind: made["wer_part"] for kind, made in tally.summary()["kinds"].items()}
        goal = dict(wanted, misheard=max(0.0, wanted[Kind.MISHEARD] + wanted[Kind.DIGITS]
                                         - made[Kind.DIGITS]))
        scaled = {}
        for kind in set(Kind) - {Kind.DIGITS, Kind.PUNCT}:
            if made[kind] or not goal[kind]:
                scale = goal[kind] / made[kind] if made[kind] else 0.0
                scaled[kind.value] = round(min(1.0, getattr(rates, kind.value) * scale), 4)
        rates = replace(rates, **scaled)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripted", type=Path, default=SCRIPTED)
    parser.add_argument("--manifest", type=Path, default=PROMPTS)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--per-language", type=int, default=None)
    parser.add_argument("--only", choices=("scripted", "prompts"), help="one set")
    parser.add_argument("--save", type=Path, help="write the recognised pairs (JSON lines)")
    parser.add_argument("--load", type=Path, nargs="+", help="measure saved pairs instead")
    parser.add_argument("--fit", action="store_true",
                        help="then the `NoiseRates` that reproduce it on the training corpus")
    args = parser.parse_args(argv)
    if args.load:
        pairs = [json.loads(line) for path in args.load
                 for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        pairs = []
        if args.only != "prompts":
            pairs += [{**pair, "set": "scripted"} for pair in scripted_pairs(args.scripted)]
        if args.only != "scripted":
            pairs += [{**pair, "set": "prompts"} for pair in
                      prompt_pairs(args.manifest, args.prefix, args.per_language)]
    if args.save:
        args.save.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs),
                             encoding="utf-8")
    for name in (*sorted({pair["set"] for pair in pairs}), "all"):
        chosen = [p for p in pairs if name in ("all", p["set"])]
        for lang in ("ru", "uk", "all"):
            picked = [p for p in chosen if lang in ("all", p["lang"])]
            if picked:
                print(json.dumps({"set": name, "lang": lang, **measure(picked)},
                                 ensure_ascii=False))
    if args.fit:
        corpus = [item for path in TRAINING for item in read_corpus(path)]
        for lang in ("ru", "uk"):
            measured = measure([p for p in pairs if p["lang"] == lang])
            sample = random.Random(FIT_SEED).sample(
                [item for item in corpus if item.lang == lang], FIT_LINES)
            print(f"{lang}: {fit_rates(measured, sample, lang)}")


if __name__ == "__main__":
    main()
