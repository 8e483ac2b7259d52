"""Bank details that personal-data masking (``pii.py``) finds by their shape in the text.

An IBAN ("UA21 3223 1300 0002 6007 2335 6600 1", also unspaced) counts when its ISO 13616
checksum holds. A card's CVV and expiry date count right after a card number ("4276 ... 5679,
12/27, 123") or after a keyword of theirs ("CVV 123", "срок действия двенадцать двадцать
седьмого"): an expiry is a month and a year 20-49 ("12/27", "12.2027", spoken with the year as
a number or an ordinal), a CVV three digits; a bare three-digit number after a card is no CVV
when a word of money or time follows it ("на 500 рублей"). Words said between ("срок", "код на
обороте", "до") are passed over; number words are read by the caller's ``compose``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sentiment_svc.analysis.pii_checks import IBAN_LENGTHS, iban_ok

# number words said together -> their digit groups with character spans
Compose = Callable[[list[tuple[int, int, int]]], list[tuple[str, int, int]]]

_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?!\w)")
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ`][^\W\d_]+)*")
_GAP = re.compile(r"[\s,;:—–-]*")
_EXPIRY = re.compile(r"(?<![\d.,/])(0?[1-9]|1[0-2]) ?[/.] ?(?:20)?([2-4]\d)(?![\d]|[.,/]\d)")
_EXPIRY_SPACED = re.compile(r"(?<![\d.,/])(0[1-9]|1[0-2]) (?:20)?([2-4]\d)(?![\d]|[.,/]\d)")
_CVV = re.compile(r"(?<![\d.,/])\d{3}(?![\d]|[.,/]\d)")
_MAX_FILLERS = 5  # words passed over between an anchor and the number


def find_ibans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of IBANs that pass their checksum, at their country's length where it is known."""
    for m in _IBAN.finditer(text):
        ends = [i + 1 for i in range(m.start(), m.end()) if text[i] != " "]
        size = IBAN_LENGTHS.get(text[m.start():m.start() + 2].upper(), len(ends))
        if len(ends) >= size and iban_ok(text[m.start():ends[size - 1]].replace(" ", "")):
            yield m.start(), ends[size - 1]


@dataclass(frozen=True)
class CardDetails:
    """Finds the CVV and expiry said with a card; built from ``card_details`` in pii.yaml."""

    cvv_keywords: re.Pattern[str]
    expiry_keywords: re.Pattern[str]
    fillers: frozenset[str]
    code_words: frozenset[str]
    amounts: re.Pattern[str]
    numbers: dict[str, int]
    ordinals: dict[str, int]
    compose: Compose

    @classmethod
    def build(cls, raw: dict[str, Any], numbers: dict[str, int], norm: Callable[[str], str],
              compose: Compose) -> CardDetails:
        def words(key: str) -> re.Pattern[str]:
            return re.compile(r"(?<!\w)(?:" + "|".join(raw[key]) + r")(?!\w)", re.I)

        return cls(words("cvv_keywords"), words("expiry_keywords"),
                   frozenset(map(norm, raw["fillers"])), frozenset(map(norm, raw["code_words"])),
                   re.compile(r"\s*(?:" + "|".join(raw["amount_words"]) + ")", re.I),
                   numbers, {norm(form): int(value) for value, forms in raw["ordinals"].items()
                             for form in forms}, compose)

    def find(self, text: str, card_ends: list[int], norm: Callable[[str], str],
             kinds: frozenset[str]) -> list[tuple[str, int, int]]:
        anchors = [(end, "card") for end in card_ends]
        anchors += [(m.end(), "cvv") for m in self.cvv_keywords.finditer(text)]
        anchors += [(m.end(), "expiry") for m in self.expiry_keywords.finditer(text)]
        found: list[tuple[str, int, int]] = []
        for pos, after in sorted(anchors):
            for _ in range(2):  # an expiry and a CVV, in either order
                hit = self._next(text, pos, after, norm)
                if hit is None:
                    break
                kind, start, pos = hit
                if kind in kinds and not any(s < pos and start < e for _, s, e in found):
                    found.append((kind, start, pos))
                after = kind
        return found

    def _next(self, text: str, pos: int, after: str, norm: Callable[[str], str]
              ) -> tuple[str, int, int] | None:
        """The expiry or CVV after ``pos``, past fillers and keywords; ``after`` what came."""
        said = set()
        for _ in range(_MAX_FILLERS + 1):
            pos = _GAP.match(text, pos).end()
            if kw := self.cvv_keywords.match(text, pos):
                said.add("cvv")
                pos = kw.end()
                continue
            if kw := self.expiry_keywords.match(text, pos):
                said.add("expiry")
                pos = kw.end()
                continue
            word = _WORD.match(text, pos)
            if not word or norm(word.group()) not in self.fillers:
                break
            said.add("code" if norm(word.group()) in self.code_words else "filler")
            pos = word.end()
        expect_cvv = "cvv" in said or after == "cvv" or "code" in said
        expect_expiry = "expiry" in said or after == "expiry"
        m = _EXPIRY.match(text, pos) or (expect_expiry and _EXPIRY_SPACED.match(text, pos))
        if m and not expect_cvv:
            return "expiry", pos, m.end()
        spoken = self._spoken(text, pos)
        if spoken and not expect_cvv and (month := self._expiry_words(spoken)):
            return "expiry", pos, month
        bare = after in ("card", "expiry") and not said
        if expect_cvv or bare:
            m = _CVV.match(text, pos)
            end = m.end() if m else self._cvv_words(spoken)
            if end is not None and (expect_cvv or not self.amounts.match(text, end)):
                return "cvv", pos, end
        return None

    def _spoken(self, text: str, pos: int) -> list[tuple[int, int, int, bool]]:
        """Number words and ordinals from ``pos`` on: (value, start, end, is an ordinal)."""
        out = []
        while (word := _WORD.match(text, pos)) and len(out) < 8:
            key = word.group().lower().replace("ё", "е").replace("’", "'").replace("ʼ", "'")
            if key in self.numbers:
                out.append((self.numbers[key], word.start(), word.end(), False))
            elif key in self.ordinals:
                out.append((self.ordinals[key], word.start(), word.end(), True))
                break  # an ordinal ends the year
            else:
                break
            pos = _GAP.match(text, word.end()).end()
        return out

    def _expiry_words(self, spoken: list[tuple[int, int, int, bool]]) -> int | None:
        """Where a spoken month and year end: "двенадцать двадцать седьмого", "ноль один 30"."""
        plain = [(v, s, e) for v, s, e, _ in spoken]
        for k in (1, 2):
            month = self.compose(plain[:k])
            if len(spoken) <= k or "".join(d for d, _, _ in month) not in (
                    *map(str, range(1, 13)), *(f"0{n}" for n in range(1, 10))):
                continue
            year, _, end = self.compose(plain[k:])[0]
            if len(year) in (2, 4) and year[:-2] in ("", "20") and 20 <= int(year[-2:]) <= 49:
                return end
        return None

    def _cvv_words(self, spoken: list[tuple[int, int, int, bool]]) -> int | None:
        if any(ordinal for *_, ordinal in spoken):
            return None
        digits, end = "", None
        for group, _, group_end in self.compose([(v, s, e) for v, s, e, _ in spoken]):
            digits += group
            end = group_end
            if len(digits) >= 3:
                break
        return end if len(digits) == 3 else None
