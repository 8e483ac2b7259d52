"""Search normalisation: how utterance text and search queries are folded before matching.

SQLite's ``LIKE`` and ``lower()`` fold ASCII only, so the store keeps a folded copy of every
utterance (``utterances.text_folded``) made by `fold_text`, and folds queries the same way.
Folding: Unicode case folding, ``ё`` -> ``е`` (Russian writers and Whisper use both),
apostrophes dropped (Ukrainian ``п'ять`` / ``пʼять`` / ``п’ять`` are one word), everything
that is not a word character becomes a single space, and the result is padded with spaces
so that ``LIKE '% word%'`` matches at word starts.

A query matches an utterance when every query word is the start of some word of that
utterance ("керівника" finds "Покличте КЕРІВНИКА"; "скарг" finds "скаргу"). The FTS5 path
and the ``LIKE`` fallback implement the same rule.
"""

from __future__ import annotations

import re

_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc\u2018`")
_WORD = re.compile(r"\w+")
MAX_QUERY_WORDS = 16


def fold_text(text: str) -> str:
    """The searchable copy of `text`: folded words separated (and surrounded) by spaces."""
    words = _WORD.findall(text.casefold().replace("ё", "е").translate(_APOSTROPHES))
    return f" {' '.join(words)} " if words else " "


def query_words(query: str) -> list[str]:
    """The folded words of a search query (at most `MAX_QUERY_WORDS`); [] matches anything."""
    return fold_text(query).split()[:MAX_QUERY_WORDS]


def fts_query(words: list[str]) -> str:
    """An FTS5 MATCH expression: every word as a prefix. Words are ``\\w+``, so no quoting
    issue can arise, but they are quoted anyway so FTS5 keywords (AND, NEAR) stay words."""
    return " ".join(f'"{word}"*' for word in words)


def like_patterns(words: list[str]) -> list[str]:
    """``LIKE ... ESCAPE '\\'`` patterns against ``text_folded``, one per word."""
    return [
        "% " + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for word in words
    ]
