"""Recognition slips: unknown words read as the pattern words they were probably meant to be.

Whisper base mishears Ukrainian and fast Russian speech into words no dictionary knows
("кирівника", "пакличти", "звоню"). `SlipMatcher` holds every inflected form of the lemmas
the complaint patterns use and maps such a word to the lemmas of the forms within one
letter of it (two from eight letters on), by Levenshtein distance (rapidfuzz). The lexicon
asks only about words the dictionary does not know, so correctly recognised text matches
exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import pymorphy3

MIN_LENGTH = 5  # shorter unknown words are not read as misheard pattern words
TWO_EDITS_LENGTH = 8  # from this length a misheard word may be two letters off
CACHE_SIZE = 100_000


class SlipMatcher:
    def __init__(self, lemmas: Iterable[str], morph: pymorphy3.MorphAnalyzer | None) -> None:
        self._lemmas = sorted({lemma for lemma in lemmas if len(lemma) >= MIN_LENGTH})
        self._morph = morph
        self._forms: dict[str, frozenset[str]] | None = None  # built on the first slip
        self._cache: dict[tuple[str, frozenset[str]], frozenset[str]] = {}

    def near(self, word: str, guesses: Iterable[str] = ()) -> frozenset[str]:
        """Pattern lemmas that `word` (or a lemma guessed for it) is a slip of."""
        if len(word) < MIN_LENGTH or not self._lemmas:
            return frozenset()
        key = (word, frozenset(guesses))
        found = self._cache.get(key)
        if found is None:
            found = self._search({word, *key[1]})
            if len(self._cache) < CACHE_SIZE:
                self._cache[key] = found
        return found

    def _search(self, candidates: set[str]) -> frozenset[str]:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        forms = self._word_forms()
        choices = list(forms)
        near: set[str] = set()
        for candidate in candidates:
            allowed = 1 if len(candidate) < TWO_EDITS_LENGTH else 2
            for form, _, _ in process.extract(
                candidate, choices, scorer=Levenshtein.distance, score_cutoff=allowed,
                limit=None,
            ):
                near.update(forms[form])
        return frozenset(near)

    def _word_forms(self) -> dict[str, frozenset[str]]:
        """Every inflected form of every pattern lemma -> the lemmas it belongs to."""
        if self._forms is None:
            forms: dict[str, set[str]] = {}
            for lemma in self._lemmas:
                forms.setdefault(lemma, set()).add(lemma)
                for parse in self._morph.parse(lemma) if self._morph is not None else []:
                    if parse.normal_form.replace("ё", "е") != lemma:
                        continue
                    for form in parse.lexeme:
                        word = form.word.replace("ё", "е")
                        if len(word) >= MIN_LENGTH:
                            forms.setdefault(word, set()).add(lemma)
            self._forms = {form: frozenset(lemmas) for form, lemmas in forms.items()}
        return self._forms
