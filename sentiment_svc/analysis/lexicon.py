"""Complaint-phrase detection on Whisper transcripts, by lemma patterns from an editable YAML.

Words are lemmatised with pymorphy3 (every candidate normal form is kept) and each pattern of
``data/lexicon.yaml`` (its header documents the syntax) is matched on lemmas within a small window.
A match that a negator outside the pattern denies ("не хочу расторгать договор", "не могу сказать,
что мне не помогли") is reported with ``negated=True`` and left out of ``categories()``. The
Ukrainian dictionary (GPL-3.0) is an optional extra; without it Ukrainian is matched on stems.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Literal

import pymorphy3

from sentiment_svc.analysis.lexicon_file import (
    CategorySpec,
    LexiconError,
    Negatable,
    PatternSpec,
    read_spec,
)
from sentiment_svc.analysis.negation import PATTERN_NEGATORS, negated_after, negator_before
from sentiment_svc.analysis.slips import SlipMatcher

log = logging.getLogger(__name__)

LANGS = ("ru", "uk")
UNLESS_WINDOW = 6  # words either side of a match searched for `unless` phrases

_TOKEN_RE = re.compile(
    r"(?P<num>\d+)(?:-?(?:ый|ий|ой|ій|го|му|ом|ым|им|й|я|е|х|ю)(?![a-zа-яіїєґ']))?"
    r"|(?P<word>[a-zа-яіїєґ][a-zа-яіїєґ0-9']*)|(?P<brk>[.,!?;:…—–()«»\"]+)"
)
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "ʹ": "'", "ё": "е"})
_LATIN_LOOKALIKES = str.maketrans("aeiopcx", "аеіорсх")
_CYRILLIC = re.compile(r"[а-яіїєґ]")
_INFINITIVE_ENDING = re.compile(r"(?:ти|тися|тись|ть|ться|чь|чься)$")
_UK_ENDING = re.compile(  # for the stem fallback; the leftmost match is the longest ending
    r"(?<=.{3})(?:ьому|ього|тися|ться|ями|імо|єте|ові|ємо|ить|ому|ите|іте|емо|ять|ать|имо|ими"
    r"|іть|уть|ете|ого|іми|ами|ися|еві|ись|ють|ій|ую|ях|ею|ти|ув|сь|им|ам|ав|ою|ім|юю|ої|ло|ає"
    r"|их|ла|ах|ям|іх|ує|ть|ий|ся|ли|и|е|а|є|і|ю|у|о|ї|в|я)$"
)


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NUMBERS = {  # number words (lemmas) and their values; ordinals count as their number
    word: int(value)
    for word, _, value in (
        item.partition(":")
        for item in _set(
            "один:1 первый:1 перший:1 два:2 две:2 второй:2 двое:2 другий:2 дві:2 вдруге:2 три:3 "
            "третий:3 трое:3 третій:3 втретє:3 несколько:3 кілька:3 четыре:4 четвертый:4 "
            "чотири:4 четвертий:4 вчетверте:4 пять:5 пятый:5 п'ять:5 п'ятий:5 вп'яте:5 много:5 "
            "багато:5 шесть:6 шестой:6 шість:6 шостий:6 семь:7 седьмой:7 сім:7 сьомий:7 восемь:8 "
            "восьмой:8 вісім:8 восьмий:8 девять:9 девятый:9 дев'ять:9 дев'ятий:9 десять:10 "
            "десятый:10 десятий:10 вдесяте:10 двадцать:20 двадцять:20 тридцать:30 тридцять:30 "
            "сорок:40 пятьдесят:50 п'ятдесят:50 сто:100 сотый:100 сотий:100 тысяча:1000 тисяча:1000"
        )
    )
}


@dataclass(frozen=True)
class CategoryMatch:
    category: str
    pattern: str  # as written in the YAML
    span: tuple[int, int]  # token indices, half-open [start, end)
    negated: bool
    own: bool = False  # a pattern of the contact centre's own file, not the bundled lexicon


@dataclass(frozen=True, slots=True)
class _Token:
    word: str
    lemmas: frozenset[str]  # every candidate normal form, and the word itself
    number: int | None
    verb: bool  # a verb, not an imperative
    imperative: bool
    infinitive: bool = False
    brk: bool = False  # punctuation between this word and the previous one
    known: bool = True  # in the dictionary (an unknown word may be a recognition slip)


@dataclass(frozen=True, slots=True)
class _Term:
    keys: tuple[str, ...]  # lemmas, or word beginnings if prefix
    forms: tuple[str, ...] = ()  # exact word forms ("=отключусь")
    prefix: bool = False
    number: int | None = None  # matches any number >= this
    negator: bool = False

    def hits(self, token: _Token) -> bool:
        if self.number is not None:
            return token.number is not None and token.number >= self.number
        if token.word in self.forms:
            return True
        if self.prefix:
            return any(lemma.startswith(self.keys) for lemma in token.lemmas)
        return not token.lemmas.isdisjoint(self.keys)

    @classmethod
    def build(cls, lang: str, alternatives: list[tuple[str, bool]], prefix: bool) -> _Term:
        """One pattern position from its (word, exact form only) alternatives."""
        forms = tuple(sorted(word for word, exact in alternatives if exact))
        loose = [word for word, exact in alternatives if not exact]
        if prefix:
            return cls(tuple(loose), forms, prefix=True)
        analysed = [_analyse(lang, word) for word in loose]
        numbers = [token.number for token, _ in analysed if token.number is not None]
        if numbers and len(numbers) == len(alternatives):
            return cls(tuple(loose), number=min(numbers))
        keys = tuple(sorted({*loose, *(lemma for _, lemma in analysed)}))
        negator = not PATTERN_NEGATORS.isdisjoint(keys)
        if _analyzer(lang) is None and not negator and all(len(word) >= 4 for word in loose):
            stems = tuple(sorted({lemma for _, lemma in analysed}))  # the stem fallback
            return cls(stems, forms, prefix=True)
        return cls(keys, forms, negator=negator)


@dataclass(frozen=True, slots=True)
class _Rule:
    category: str
    text: str
    terms: tuple[_Term, ...]
    links: tuple[int | None, ...]  # term i -> i+1: None, or "follows within N words"
    window: int
    negatable: Negatable
    unless: tuple[tuple[_Term, ...], ...]
    required: tuple[tuple[str, ...], ...]  # keys of the plain terms, for a quick reject
    slips: bool | Literal["anchored"] = True  # may match a recognition slip (`slips.py`)
    own: bool = False  # from the contact centre's file (`ComplaintLexicon.load(path)`)

    @classmethod
    def compile(cls, lang: str, category: str, spec: PatternSpec, cat: CategorySpec) -> _Rule:
        terms, gaps_after = _phrase(lang, spec.pattern, spec.prefix)
        bound = len(gaps_after) + sum(term.negator for term in terms[:-1])
        window = spec.window or len(terms) + 2 + spec.gap * bound
        if window < len(terms):
            raise ValueError(f"window {window} is shorter than the {len(terms)} words")
        links: list[int | None] = [window if spec.ordered else None] * (len(terms) - 1)
        for index, term in enumerate(terms[:-1]):
            if term.negator or index in gaps_after:
                links[index] = spec.gap
        unless = tuple(tuple(_phrase(lang, text)[0]) for text in (*cat.unless, *spec.unless))
        required = tuple(t.keys + t.forms for t in terms if not t.prefix and t.number is None)
        negatable = cat.negatable if spec.negatable is None else spec.negatable
        return cls(
            category, spec.pattern, (*terms,), (*links,), window, negatable, unless, required,
            cat.slips,
        )

    def find(self, tokens: list[_Token]) -> list[tuple[int, ...]]:
        """Leftmost, then shortest, non-overlapping placements of the terms (token indices)."""
        candidates = [[i for i, tok in enumerate(tokens) if term.hits(tok)] for term in self.terms]
        found: list[tuple[int, ...]] = []

        def extend(chosen: list[int]) -> None:
            if len(chosen) == len(candidates):
                found.append(tuple(chosen))
                return
            link = self.links[len(chosen) - 1] if chosen else None
            for at in candidates[len(chosen)]:
                if at in chosen or (link is not None and not 0 <= at - chosen[-1] - 1 <= link):
                    continue
                if max(*chosen, at, 0) - min([*chosen, at]) < self.window:
                    extend([*chosen, at])

        if all(candidates):
            extend([])
        placements, end = [], -1
        for placement in sorted(found, key=lambda p: (min(p), max(p))):
            if min(placement) > end:
                placements.append(placement)
                end = max(placement)
        return placements

    def negated(self, tokens: list[_Token], placement: tuple[int, ...]) -> bool:
        inside = set(placement)
        if not self.negatable:
            return False
        statements = self.negatable == "statements"
        return any(
            negator_before(tokens, at, inside)
            for at, term in zip(placement, self.terms, strict=True)
            if not term.negator and not (statements and tokens[at].imperative)
        ) or (not (statements and any(tokens[at].imperative for at in placement))
              and negated_after(tokens, placement))

    def anchored(self, exact: list[_Token], placement: tuple[int, ...]) -> bool:
        """Was at least one word of the match heard right (no slip needed)?"""
        return any(term.hits(exact[at]) for at, term in zip(placement, self.terms, strict=True))

    def vetoed(self, tokens: list[_Token], start: int, end: int) -> bool:
        low, high = max(0, start - UNLESS_WINDOW), min(len(tokens), end + UNLESS_WINDOW)
        return any(
            all(term.hits(tokens[first + k]) for k, term in enumerate(phrase))
            for phrase in self.unless
            for first in range(low, high - len(phrase) + 1)
        )


def _words(text: str) -> list[tuple[str, bool]]:
    """(word, punctuation before it) pairs; digits keep only the number ("3-й" -> "3")."""
    words: list[tuple[str, bool]] = []
    brk = False
    for found in _TOKEN_RE.finditer(text.lower().translate(_APOSTROPHES)):
        if found["brk"]:
            brk = True
            continue
        word = found["num"] or found["word"].strip("'")
        if _CYRILLIC.search(word):
            word = word.translate(_LATIN_LOOKALIKES)  # "повернiть" with a Latin i
        words.append((word, brk))
        brk = False
    return words


@functools.cache
def _analyzer(lang: str) -> pymorphy3.MorphAnalyzer | None:
    try:
        return pymorphy3.MorphAnalyzer(lang=lang)
    except Exception as error:  # the dictionary package is missing or broken
        if lang != "uk":
            raise
        log.warning("Ukrainian dictionary unavailable (%s): matching on word stems", error)
        return None


@functools.lru_cache(maxsize=100_000)
def _analyse(lang: str, word: str) -> tuple[_Token, str]:
    """The word as a token (without the punctuation flag), and its most likely lemma."""
    morph = _analyzer(lang)
    if morph is None:
        lemma, verb, imperative, infinitive = _UK_ENDING.sub("", word), False, False, False
        lemmas = frozenset({word, lemma})
    else:
        parses = morph.parse(word)
        lemmas = frozenset({parse.normal_form.replace("ё", "е") for parse in parses} | {word})
        lemma = parses[0].normal_form.replace("ё", "е")
        imperative = any("impr" in parse.tag for parse in parses)
        verb = parses[0].tag.POS in {"VERB", "INFN"} and "impr" not in parses[0].tag
        # pymorphy's Ukrainian dictionary tags infinitives VERB: read them by their ending
        infinitive = parses[0].tag.POS == "INFN" or bool(
            verb and _INFINITIVE_ENDING.search(word)
        )
    number = int(word) if word.isdigit() else next(filter(None, map(_NUMBERS.get, lemmas)), None)
    known = morph is None or number is not None or morph.word_is_known(word)
    return _Token(word, lemmas, number, verb, imperative, infinitive, known=known), lemma


def _phrase(lang: str, text: str, prefix: bool = False) -> tuple[list[_Term], list[int]]:
    """The terms of a pattern, and the indices of the terms that a `...` follows."""
    terms: list[_Term] = []
    gaps_after: list[int] = []
    for piece in text.split():
        if piece == "...":
            gaps_after.append(len(terms) - 1)
            continue
        alternatives = [(_words(alt), alt.startswith("=")) for alt in piece.split("|")]
        if len(alternatives) == 1:
            words, exact = alternatives[0]
            terms.extend(_Term.build(lang, [(word, exact)], prefix) for word, _ in words)
        elif any(len(words) != 1 for words, _ in alternatives):
            raise ValueError(f"{piece!r}: each alternative must be a single word")
        else:
            pairs = [(words[0][0], exact) for words, exact in alternatives]
            terms.append(_Term.build(lang, pairs, prefix))
    if not terms:
        raise ValueError("the pattern has no words")
    return terms, gaps_after


def _parse(source: str, text: str) -> tuple[dict[str, tuple[_Rule, ...]], str | None]:
    spec = read_spec(source, text)
    rules: dict[str, list[_Rule]] = {lang: [] for lang in LANGS}
    for category, cat in spec.categories.items():
        for lang in LANGS:
            for pattern in getattr(cat, lang):
                try:
                    rules[lang].append(_Rule.compile(lang, category, pattern, cat))
                except ValueError as error:
                    where = f"category {category!r}, {lang}, pattern {pattern.pattern!r}"
                    raise LexiconError(f"{source}: {where}: {error}") from None
    return {lang: tuple(found) for lang, found in rules.items()}, spec.extends


def _bundled() -> dict[str, tuple[_Rule, ...]]:
    resource = resources.files("sentiment_svc.analysis").joinpath("data/lexicon.yaml")
    return _parse(str(resource), resource.read_text(encoding="utf-8"))[0]


def _slip_matcher(lang: str, rules: tuple[_Rule, ...]) -> SlipMatcher:
    """The lemmas the plain pattern words use, for reading recognition slips."""
    keys = {
        key
        for rule in rules
        for term in rule.terms
        if not term.prefix and term.number is None and not term.negator
        for key in term.keys
    }
    return SlipMatcher(keys, _analyzer(lang))


class ComplaintLexicon:
    """Complaint categories found in an utterance by lemma-level phrase patterns."""

    def __init__(self, rules: dict[str, tuple[_Rule, ...]]) -> None:
        self._rules = rules
        self._slips = {lang: _slip_matcher(lang, found) for lang, found in rules.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> ComplaintLexicon:
        """The bundled lexicon, or a user file (which may say `extends: builtin`)."""
        if path is None:
            return cls(_bundled())
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise LexiconError(f"{path}: cannot read: {error.strerror}") from None
        rules, extends = _parse(str(path), text)
        rules = {lang: tuple(replace(rule, own=True) for rule in found)
                 for lang, found in rules.items()}
        if extends == "builtin":
            rules = {lang: found + rules[lang] for lang, found in _bundled().items()}
        return cls(rules)

    def without_slips(self) -> ComplaintLexicon:
        """The same patterns matching only words heard right (to measure what slips add)."""
        return ComplaintLexicon({lang: tuple(replace(rule, slips=False) for rule in found)
                                 for lang, found in self._rules.items()})

    def match(self, text: str, lang: str) -> list[CategoryMatch]:
        """Every pattern occurrence; for a language other than ru/uk both are tried."""
        words = _words(text)
        matches: dict[tuple[str, str, tuple[int, int]], CategoryMatch] = {}
        for code in (lang,) if lang in LANGS else LANGS:
            slips = self._slips[code]
            exact = [
                replace(t, brk=True) if brk else t
                for t, (_, brk) in ((_analyse(code, word)[0], (word, brk)) for word, brk in words)
            ]
            slipped = [
                t if t.known else replace(t, lemmas=t.lemmas | slips.near(t.word, t.lemmas))
                for t in exact
            ]
            bag = frozenset().union(*(token.lemmas for token in slipped))
            for rule in self._rules[code]:
                if any(bag.isdisjoint(keys) for keys in rule.required):
                    continue
                tokens = slipped if rule.slips else exact
                for placement in rule.find(tokens):
                    if rule.slips == "anchored" and not rule.anchored(exact, placement):
                        continue
                    span = (min(placement), max(placement) + 1)
                    key = (rule.category, rule.text, span)
                    if key not in matches and not rule.vetoed(tokens, *span):
                        negated = rule.negated(tokens, placement)
                        matches[key] = CategoryMatch(rule.category, rule.text, span, negated,
                                                     rule.own)
        return sorted(matches.values(), key=lambda m: (m.span, m.category, m.pattern))

    def categories(self, text: str, lang: str) -> tuple[str, ...]:
        """Sorted unique categories of the matches that are not negated."""
        return tuple(sorted({m.category for m in self.match(text, lang) if not m.negated}))
