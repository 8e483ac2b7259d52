"""Personal-data masking of transcripts (152-FZ): the last step before text is stored or pushed.

Owns the detectors of card numbers (Luhn), phone numbers (RU +7/8, UA +380/0), passports (RU
series and number, UA booklet and ID card), INN/RNOKPP, SNILS (all with their checksums) and
e-mail addresses, written or spoken ("иван точка петров собака mail точка ru"), and their
replacement by readable placeholders ("[карта]", "[телефон]") or stars. Numbers may be digits or
Russian/Ukrainian number words: a run of them becomes one digit string whose groups keep their
character spans, and a detector only matches whole groups. Pure functions, no I/O past loading
the bundled language data ``data/pii.yaml`` (its header documents it) once.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

KINDS = ("card", "phone", "passport", "inn", "snils", "email")
_ORDER = ("card", "phone", "snils", "inn")  # tried in this order unless a keyword says otherwise
_WEAK = ("snils", "inn")  # with no keyword before them, only masked where all the run is PII
_CONTEXT_WORDS = 5  # ordinary words looked back for a keyword
_MAX_DIGITS = 19
Style = Literal["label", "stars"]


class PiiConfigError(ValueError):
    """A masking configuration that names an unknown kind or style."""


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int  # offsets in the original text
    end: int


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    found: tuple[PiiMatch, ...]


@dataclass(frozen=True)
class PiiConfig:
    """What to mask and how: ``label`` gives "[телефон]", ``stars`` keeps the spacing."""

    kinds: frozenset[str] = frozenset(KINDS)
    placeholder_style: Style = "label"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        if unknown := sorted(self.kinds - set(KINDS)):
            raise PiiConfigError(f"unknown kinds {unknown} (known: {', '.join(KINDS)})")
        if self.placeholder_style not in ("label", "stars"):
            raise PiiConfigError(f"placeholder_style must be label or stars, not "
                                 f"{self.placeholder_style!r}")

    @classmethod
    def from_mapping(cls, raw: Any) -> PiiConfig:
        """From ``{kinds: [card, phone] | all, placeholder_style: label | stars}``."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise PiiConfigError("a mapping with kinds and placeholder_style is expected")
        if extra := sorted(set(raw) - {"kinds", "placeholder_style"}):
            raise PiiConfigError(f"unknown keys {extra}")
        kinds = raw.get("kinds", "all")
        if kinds == "all":
            kinds = KINDS
        if not isinstance(kinds, list | tuple) or not all(isinstance(k, str) for k in kinds):
            raise PiiConfigError("kinds must be 'all' or a list of kind names")
        return cls(frozenset(kinds), raw.get("placeholder_style", "label"))

    @classmethod
    def load(cls, path: Path | str) -> PiiConfig:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise PiiConfigError(f"{path}: {error}") from None
        try:
            return cls.from_mapping(raw)
        except PiiConfigError as error:
            raise PiiConfigError(f"{path}: {error}") from None


@dataclass(frozen=True)
class _Lang:
    numbers: dict[str, int]
    at: frozenset[str]
    soft: frozenset[str]
    plus: frozenset[str]
    tlds: frozenset[str]
    keywords: tuple[tuple[str, re.Pattern[str]], ...]
    labels: dict[str, dict[str, str]]
    email: re.Pattern[str]
    dot: re.Pattern[str]


_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "ё": "е"})
_TOKEN = re.compile(  # mask: a placeholder left by an earlier masking, kept as an opaque group
    r"(?P<mask>\[[^\W\d_]+\]|\*+)|(?P<num>[0-9]+)|(?P<word>[^\W\d_]+(?:['’ʼ`][^\W\d_]+)*)"
    r"|(?P<plus>\+)|(?P<sep>[\s\-‐–—(),№]+)|(?P<other>.)", re.S)
_LETTERS = re.compile(r"[а-яіїєґ]{2}", re.I)  # series of a Ukrainian passport booklet
_WRITTEN_WORD = r"[^\W_][\w+-]*(?:\.[\w+-]+)*"


def _norm(word: str) -> str:
    return word.lower().translate(_APOSTROPHES)


@functools.cache
def _lang() -> _Lang:
    raw = yaml.safe_load(resources.files("sentiment_svc.analysis").joinpath("data/pii.yaml")
                         .read_text(encoding="utf-8"))
    numbers = {_norm(w): int(v) for forms in raw["numbers"].values()
               for v, words in forms.items() for w in words}
    alt = {key: "|".join(map(re.escape, sorted(map(_norm, raw[key]), key=len, reverse=True)))
           for key in ("at_words", "dot_words", "join_words")}
    word = _WRITTEN_WORD
    email = re.compile(
        rf"(?<![\w.@\[])(?P<local>{word}(?:\s+(?:{alt['dot_words']}|{alt['join_words']})\s+{word})*)"
        rf"(?:\s*@\s*|\s+(?:{alt['at_words']})\s+)"
        rf"(?P<domain>{word}(?:\s+(?:{alt['dot_words']})\s+{word})*)", re.I)
    return _Lang(
        numbers=numbers, at=frozenset(map(_norm, raw["at_words"])),
        soft=frozenset(raw["soft_words"]), plus=frozenset(raw["plus_words"]),
        tlds=frozenset(map(_norm, raw["tlds"])),
        keywords=tuple((kind, re.compile("|".join(f"(?:{p})" for p in patterns)))
                       for kind, patterns in raw["keywords"].items()),
        labels=raw["labels"], email=email,
        dot=re.compile(rf"\.|\s+(?:{alt['dot_words']})\s+", re.I))


# checksums ---------------------------------------------------------------------------------

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_ok(digits: str) -> bool:
    """A Russian INN (10 or 12 digits) or a Ukrainian RNOKPP (10 digits)."""
    w12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    if len(digits) == 12:
        return (_weighted(digits, w12[1:]) == int(digits[10])
                and _weighted(digits, w12) == int(digits[11]))
    ru, ua = (2, 4, 10, 3, 5, 9, 4, 6, 8), (-1, 5, 7, 9, 4, 6, 10, 5, 7)
    return len(digits) == 10 and int(digits[9]) in (_weighted(digits, ru), _weighted(digits, ua))


def snils_ok(digits: str) -> bool:
    if len(digits) != 11 or digits[:9] <= "001001998":
        return False
    total = sum(int(d) * (9 - i) for i, d in enumerate(digits[:9]))
    return total % 101 % 100 == int(digits[9:])


def _phone_ok(d: str, lens: tuple[int, ...], context: str | None) -> bool:
    n = len(d)
    return ((n == 11 and d[0] in "78" and d[1] in "3489")  # +7 / 8, RU
            or (n == 12 and d.startswith("380") and d[3] != "0")  # +380, UA
            or (n == 10 and d[0] == "0" and d[1] in "3456789")  # 0XX, UA
            or (n == 11 and d.startswith("80") and d[2] in "3456789")  # 8 0XX, UA long distance
            or (n == 10 and d[0] == "9" and lens in ((3, 3, 2, 2), (3, 3, 4), (3, 7)))
            or (n == 10 and d[0] in "3489" and context == "phone"))


_CHECKS = {
    "card": lambda d, lens, ctx: 13 <= len(d) <= 19 and d[0] in "23456" and luhn_ok(d),
    "phone": _phone_ok,
    "snils": lambda d, lens, ctx: snils_ok(d),
    "inn": lambda d, lens, ctx: len(d) in (10, 12) and inn_ok(d),
}


# number runs -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Group:
    digits: str  # "" for an earlier placeholder: no match may include it
    start: int
    end: int
    soft: bool = False  # a soft word ("номер") stands before it


@dataclass
class _Run:
    context: str | None
    plus: int | None
    letters: tuple[int, bool] | None  # start, written in capitals
    groups: list[_Group] = field(default_factory=list)


def _below_thousand(words: list[tuple[int, int, int]], i: int) -> tuple[int, int]:
    value, n = 0, len(words)
    if i < n and 100 <= words[i][0] < 1000:
        value, i = words[i][0], i + 1
    if i < n and 10 <= words[i][0] < 20:
        return value + words[i][0], i + 1
    if i < n and 20 <= words[i][0] < 100:
        value, i = value + words[i][0], i + 1
    if i < n and 1 <= words[i][0] <= 9:
        value, i = value + words[i][0], i + 1
    return value, i


def _compose(words: list[tuple[int, int, int]], soft: bool) -> list[_Group]:
    """Number words said together as digit groups: "сто двадцать пять" -> 125."""
    groups, i = [], 0
    while i < len(words):
        if words[i][0] == 0:
            j, value = i + 1, 0
        else:
            value, j = _below_thousand(words, i)
            if j < len(words) and words[j][0] == 1000:
                rest, j = _below_thousand(words, j + 1)
                value = (value or 1) * 1000 + rest
        groups.append(_Group(str(value), words[i][1], words[j - 1][2], soft and i == 0))
        i = j
    return groups


class PiiMasker:
    """Finds personal data in one utterance and replaces it by placeholders."""

    def __init__(self, config: PiiConfig | None = None) -> None:
        self.config = config or PiiConfig()
        self._lang = _lang()

    def mask(self, text: str, lang: str) -> MaskResult:
        found = self.find(text)
        labels = self._lang.labels.get(lang.lower()[:2], self._lang.labels["en"])
        parts, last = [], 0
        for match in found:
            span = text[match.start:match.end]
            parts += [text[last:match.start], re.sub(r"\S", "*", span)
                      if self.config.placeholder_style == "stars" else f"[{labels[match.kind]}]"]
            last = match.end
        return MaskResult("".join(parts) + text[last:], found)

    def find(self, text: str) -> tuple[PiiMatch, ...]:
        found = self._emails(text) if "email" in self.config.kinds else []
        for run in self._runs(text, list(found)):
            found += self._match_run(run)
        return tuple(sorted(found, key=lambda m: m.start))

    def _emails(self, text: str) -> list[PiiMatch]:
        if "@" not in text and not any(w in _norm(text) for w in self._lang.at):
            return []
        found = []
        for m in self._lang.email.finditer(text):
            domain, pos, pieces = m.group("domain"), 0, []
            for dot in self._lang.dot.finditer(domain):
                pieces.append((pos, dot.start()))
                pos = dot.end()
            for start, end in reversed([*pieces, (pos, len(domain))][1:]):  # longest with a TLD
                tld = _norm(domain[start:end])
                if tld in self._lang.tlds or re.fullmatch(r"[a-z]{2,6}", tld):
                    found.append(PiiMatch("email", m.start(), m.start("domain") + end))
                    break
        return found

    def _context(self, recent: deque[str]) -> str | None:
        """The kind named by the nearest keyword among the last ordinary words."""
        words = list(recent)
        for i in range(len(words) - 1, -1, -1):
            for phrase in ([f"{words[i - 1]} {words[i]}"] if i else []) + [words[i]]:
                for kind, pattern in self._lang.keywords:
                    if pattern.match(phrase):
                        return kind
        return None

    def _runs(self, text: str, emails: list[PiiMatch]) -> list[_Run]:
        """Digit groups and number words joined by spaces, dashes, commas or brackets."""
        lang, runs = self._lang, []
        recent: deque[str] = deque(maxlen=_CONTEXT_WORDS)  # not numbers, placeholders, e-mails
        words: list[tuple[int, int, int]] = []  # number words said without a break
        run: _Run | None = None
        plus: int | None = None
        letters: tuple[int, bool] | None = None
        soft = brk = words_soft = False

        def flush_words() -> None:
            if words and run is not None:
                run.groups += _compose(words, words_soft)
            words.clear()

        def close() -> None:
            nonlocal run, plus, letters, soft, brk
            flush_words()
            if run is not None:
                runs.append(run)
            run, plus, letters, soft, brk = None, None, None, False, False

        for m in _TOKEN.finditer(text):
            kind, start, end = m.lastgroup, m.start(), m.end()
            while emails and emails[0].end <= start:
                emails.pop(0)
            if emails and emails[0].start <= start:
                close()
                continue
            if kind == "sep":
                brk = brk or (run is not None and not m.group().isspace())
                continue
            key = _norm(m.group())
            value = {"num": key, "mask": ""}.get(kind) if kind != "word" else lang.numbers.get(key)
            if value is not None:
                run = run or _Run(self._context(recent), plus, letters)
                if isinstance(value, str) or brk:
                    flush_words()
                if isinstance(value, str):
                    run.groups.append(_Group(value, start, end, soft))
                else:
                    words_soft = soft if not words else words_soft
                    words.append((value, start, end))
                soft = brk = False
            elif key in lang.soft:
                flush_words()
                soft, brk = run is not None, False
            else:
                close()
                if kind == "plus" or key in lang.plus:
                    plus = start
                elif kind == "word" and _LETTERS.fullmatch(key):
                    letters = (start, m.group().isupper())
                elif kind == "word" and len(key) > 1:
                    recent.append(key)
        close()
        return runs

    def _kind(self, run: _Run, i: int, digits: str, lens: tuple[int, ...], soft: bool,
              weak: bool) -> str | None:
        kinds, ctx, n = self.config.kinds, run.context, len(digits)
        if "passport" in kinds:
            letters = run.letters if i == 0 else None
            if letters and n == 6 and (letters[1] or ctx == "passport"):
                return "passport"
            if ctx == "passport" and n in (9, 10):  # RU series and number, UA ID card
                return "passport"
        if soft or len(set(digits)) == 1:
            return None
        for kind in (ctx, *_ORDER) if ctx in _CHECKS else _ORDER:
            if (kind in kinds and (weak or ctx == kind or kind not in _WEAK)
                    and _CHECKS[kind](digits, lens, ctx)):
                return kind
        return None

    def _match_run(self, run: _Run) -> list[PiiMatch]:
        """An INN or SNILS with no keyword before it only counts if all the run is PII."""
        total = sum(len(group.digits) for group in run.groups)
        if total >= 10 and all(group.digits for group in run.groups):
            covered, found = self._best(run, weak=True)
            if covered == total:
                return found
        return self._best(run, weak=False)[1]

    def _best(self, run: _Run, weak: bool) -> tuple[int, list[PiiMatch]]:
        """The matches covering most digits of the run, each made of whole groups."""
        groups, m = run.groups, len(run.groups)
        best: list[tuple[int, int, list[PiiMatch]]] = [(0, 0, [])] * (m + 1)
        for i in range(m - 1, -1, -1):
            best[i] = best[i + 1]
            digits, lens, soft = "", (), False
            for j in range(i, m):
                digits += groups[j].digits
                lens += (len(groups[j].digits),)
                soft = soft or (j > i and groups[j].soft)
                if len(digits) > _MAX_DIGITS or not groups[j].digits:
                    break
                kind = self._kind(run, i, digits, lens, soft, weak) if len(digits) > 5 else None
                if kind is None:
                    continue
                start = groups[i].start
                if i == 0 and kind == "phone" and run.plus is not None:
                    start = run.plus
                if i == 0 and kind == "passport" and run.letters and len(digits) == 6:
                    start = run.letters[0]
                covered, count, rest = best[j + 1]
                score = (covered + len(digits), count - 1)
                if score > best[i][:2]:
                    best[i] = (*score, [PiiMatch(kind, start, groups[j].end), *rest])
        return best[0][0], best[0][2]
