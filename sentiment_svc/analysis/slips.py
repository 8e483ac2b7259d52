"""Recognition slips: unknown words read as the pattern words they were probably meant to be.

Whisper base mishears Ukrainian and fast Russian speech into words no dictionary knows
("кирівника", "пакличти", "звоню"). `SlipMatcher` holds every inflected form of the lemmas
the complaint patterns use and maps such a word to the lemma of the forms within one
letter of it (two from eight letters on), by Levenshtein distance (rapidfuzz). The lexicon
asks only about words the dictionary does not know, so correctly recognised text matches
exactly as before. A slip is read only when it is unambiguous: the word is at least
MIN_LENGTH letters, near exactly one pattern lemma, and no ordinary dictionary word is
nearer to it than that lemma's form ("пожалуста", two letters from "пожалуюсь", is
"пожалуйста" misspelt, one letter off); at a tie the pattern word is read ("кирівника":
"керівника", not "корівника").
"""

from __future__ import annotations

from collections.abc import Iterable

import pymorphy3

MIN_LENGTH = 5  # shorter unknown words are not read as misheard pattern words
TWO_EDITS_LENGTH = 8  # from this length a misheard word may be two letters off
CACHE_SIZE = 100_000
# Letters tried for the one-edit neighbours of an unknown word (ru and uk).
ALPHABET = "абвгдеєжзиіїйклмнопрстуфхцчшщъыьэюяґ'"


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
            found, distance = self._search({word, *key[1]})
            if len(found) != 1 or (distance > 1 and self._ordinary_neighbour(word)):
                found = frozenset()
            if len(self._cache) < CACHE_SIZE:
                self._cache[key] = found
        return found

    def _ordinary_neighbour(self, word: str) -> bool:
        """Is a dictionary word that no pattern uses one letter from `word`? (Two-letter
        neighbours are not generated: too many to look up.)"""
        if self._morph is None:
            return False
        forms = self._word_forms()
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        edits = {a + b[1:] for a, b in splits if b}
        edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        edits |= {a + c + b[1:] for a, b in splits if b for c in ALPHABET}
        edits |= {a + c + b for a, b in splits for c in ALPHABET}
        edits.discard(word)
        return any(
            edit not in forms and self._morph.word_is_known(edit) for edit in edits
        )

    def _search(self, candidates: set[str]) -> tuple[frozenset[str], int]:
        """The pattern lemmas near any candidate, and the smallest distance found."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        forms = self._word_forms()
        choices = list(forms)
        near: set[str] = set()
        best = TWO_EDITS_LENGTH
        for candidate in candidates:
            allowed = 1 if len(candidate) < TWO_EDITS_LENGTH else 2
            for form, distance, _ in process.extract(
                candidate, choices, scorer=Levenshtein.distance, score_cutoff=allowed,
                limit=None,
            ):
                near.update(forms[form])
                best = min(best, int(distance))
        return frozenset(near), best

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
