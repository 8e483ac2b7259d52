"""Personal-data masking of transcripts (152-FZ): the last step before text is stored or pushed.

Owns the detectors of card numbers (Luhn), phone numbers (RU +7/8, UA +380/0), passports (RU
series and number, UA booklet and ID card), INN/RNOKPP, SNILS (all with their checksums, in
``pii_checks``), Russian bank accounts (20 digits, known openings), OMS policies (16 digits
after a keyword), e-mail addresses, written or spoken ("иван точка петров собака mail точка
ru"), IBANs and a card's CVV and expiry (found by their shape in ``pii_bank``), and their
replacement by readable placeholders ("[карта]", "[телефон]") or stars. Numbers may be digits or
Russian/Ukrainian number words: a run of them becomes one digit string whose groups keep their
character spans; a match is made of whole groups and the matches covering most digits win.
Spaces, dashes, a spoken "тире" and a dot or slash between groups of four digits ("4276.1600.…")
join groups into a run; so does a comma where digits are dictated (number words or one or two
written digits on both sides: "8, 9, 1, 6, ...") or a keyword stands before the run, elsewhere
it ends the run ("в 2019, 2020, 2021"). After a keyword a match takes in the groups tied to it
by dashes or dictation commas, so a misheard extra group ("8-916-123-45-6-17") leaves no digit
behind. A passport needs a keyword before it ("паспорт", "серия"); an INN or SNILS without one
only counts when all of its run is personal data. Speech recognition drops or doubles dictated
digits, so after a keyword a number of about that kind's length is masked even when its checksum
fails ("номер карты" and 15 digits), unless it holds a number of that kind that passes (then
only that one and its tied groups are); without a keyword checksums stay required. Placeholders
left by an earlier pass stay opaque, so masking twice changes nothing. Pure: the bundled
``data/pii.yaml`` is read once, nothing else.
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

from sentiment_svc.analysis.pii_bank import CardDetails, find_ibans
from sentiment_svc.analysis.pii_checks import CHECKS as _CHECKS

KINDS = ("card", "cvv", "expiry", "phone", "passport", "inn", "snils", "email", "account", "iban",
         "oms")
_ORDER = ("card", "phone", "snils", "inn", "account")  # tried in this order but for a keyword's
_WEAK = ("snils", "inn")  # with no keyword before them, only masked where all the run is PII
_CONTEXT_WORDS = 5  # ordinary words looked back for a keyword
_MAX_DIGITS = 20
_MAX_IBAN_DIGITS = 32  # a spoken IBAN's digits, after its keyword
# digits a number may have after a keyword of its kind when its checksum fails: the real lengths
# give or take a few digits lost or added by speech recognition (152-FZ: over-masking after a
# keyword costs little, a leaked card a lot)
_LOOSE = {"card": (12, 20), "phone": (9, 13), "inn": (9, 13), "snils": (10, 12),
          "passport": (8, 11), "account": (18, 20), "oms": (15, 17), "iban": (24, 30)}
_EMAIL_REACH = 200  # characters searched for an address either side of an "@" or "собака"
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
            raise PiiConfigError(f"placeholder_style {self.placeholder_style!r}: label or stars")

    @classmethod
    def from_mapping(cls, raw: Any) -> PiiConfig:
        """From ``{kinds: all | [card, phone, ...], placeholder_style: label | stars}``."""
        raw = {} if raw is None else raw
        if not isinstance(raw, Mapping) or set(raw) - {"kinds", "placeholder_style"}:
            raise PiiConfigError(f"only kinds and placeholder_style can be set, not {raw!r}")
        kinds = KINDS if raw.get("kinds", "all") == "all" else raw["kinds"]
        if not isinstance(kinds, list | tuple) or not all(isinstance(k, str) for k in kinds):
            raise PiiConfigError("kinds must be 'all' or a list of kind names")
        return cls(frozenset(kinds), raw.get("placeholder_style", "label"))

    @classmethod
    def load(cls, path: Path | str) -> PiiConfig:
        try:
            return cls.from_mapping(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, PiiConfigError) as error:
            raise PiiConfigError(f"{path}: {error}") from None


@dataclass(frozen=True)
class _Lang:
    numbers: dict[str, int]
    at: re.Pattern[str]  # finds "@" or a spoken one
    soft: frozenset[str]
    dashes: frozenset[str]
    plus: frozenset[str]
    tlds: frozenset[str]
    keywords: tuple[tuple[str, re.Pattern[str]], ...]
    labels: dict[str, dict[str, str]]
    email: re.Pattern[str]
    dot: re.Pattern[str]
    token: re.Pattern[str]
    card_details: CardDetails


_TOKEN = (  # mask: a placeholder left by an earlier masking, kept as an opaque group
    r"(?P<mask>\[(?:{labels})\]|\*+)|(?P<num>[0-9]+)|(?P<word>[^\W\d_]+(?:['’ʼ`][^\W\d_]+)*)"
    r"|(?P<plus>\+)|(?P<sep>[\s\-‐–—(),№]+)|(?P<dot>(?<=(?<!\d)\d{{4}})[./](?=\d{{4}}(?!\d)))"
    r"|(?P<other>.)")  # dot: "4276.1600.1234.5678" or "4276/1600/..." between groups of four
_LETTERS = re.compile(r"[А-ЯІЇЄҐ]{2}")  # series of a Ukrainian passport booklet
_WRITTEN_WORD = r"[^\W_][\w+-]*(?:\.[\w+-]+)*"


def _norm(word: str) -> str:
    return word.lower().replace("ё", "е").replace("’", "'").replace("ʼ", "'").replace("`", "'")


@functools.cache
def _lang() -> _Lang:
    raw = yaml.safe_load(resources.files("sentiment_svc.analysis").joinpath("data/pii.yaml")
                         .read_text(encoding="utf-8"))
    words = {key: sorted(map(_norm, raw[f"{key}_words"]), key=len, reverse=True)
             for key in ("at", "dot", "join", "soft", "plus", "dash")}
    at, dot, join = ("|".join(map(re.escape, words[key])) for key in ("at", "dot", "join"))
    labels = (label for by_kind in raw["labels"].values() for label in by_kind.values())
    w = _WRITTEN_WORD
    numbers = {_norm(form): int(value) for forms in raw["numbers"].values()
               for value, said in forms.items() for form in said}
    return _Lang(
        numbers=numbers,
        at=re.compile(rf"@|(?<!\w)(?:{at})(?!\w)", re.I),
        soft=frozenset(words["soft"]), dashes=frozenset(words["dash"]),
        plus=frozenset(words["plus"]),
        tlds=frozenset(map(_norm, raw["tlds"])),
        keywords=tuple((kind, re.compile("|".join(f"(?:{p})" for p in patterns)))
                       for kind, patterns in raw["keywords"].items()),
        labels=raw["labels"],
        email=re.compile(rf"(?<![\w.@\[])(?P<local>{w}(?:\s+(?:{dot}|{join})\s+{w})*)"
                         rf"(?:\s*@\s*|\s+(?:{at})\s+)(?P<domain>{w}(?:\s+(?:{dot})\s+{w})*)",
                         re.I),
        dot=re.compile(rf"\.|\s+(?:{dot})\s+", re.I),
        token=re.compile(_TOKEN.format(labels="|".join(map(re.escape, labels))), re.S),
        card_details=CardDetails.build(raw["card_details"], numbers, _norm, _compose_spans))


# number runs -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Group:
    digits: str  # "" for an earlier placeholder: no match may include it
    start: int
    end: int
    soft: bool = False  # a soft word ("номер") stands before it
    tied: bool = False  # a dash or a dictation comma joins it to the group before it


@dataclass
class _Run:
    context: str | None
    plus: int | None
    letters: int | None  # start of the series of a Ukrainian passport booklet ("КВ")
    groups: list[_Group] = field(default_factory=list)


def _below_thousand(words: list[tuple[int, int, int]], i: int) -> tuple[int, int]:
    """The number below 1000 said from words[i] on ("сто двадцать пять"), and where it ends."""
    value = 0
    for low, high in ((100, 1000), (10, 100), (1, 10)):
        if i < len(words) and low <= words[i][0] < high:
            value, i = value + words[i][0], i + 1
            if 10 <= words[i - 1][0] < 20:  # nothing follows a teen
                break
    return value, i


def _compose(words: list[tuple[int, int, int]], soft: bool, tied: bool) -> list[_Group]:
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
        groups.append(_Group(str(value), words[i][1], words[j - 1][2], soft and i == 0,
                             tied and i == 0))
        i = j
    return groups


def _compose_spans(words: list[tuple[int, int, int]]) -> list[tuple[str, int, int]]:
    return [(group.digits, group.start, group.end) for group in _compose(words, False, False)]


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
        kinds = self.config.kinds
        found = self._emails(text) if "email" in kinds else []
        if "iban" in kinds:
            found += [PiiMatch("iban", start, end) for start, end in find_ibans(text)
                      if not any(m.start < end and start < m.end for m in found)]
        found.sort(key=lambda m: m.start)
        for run in self._runs(text, list(found)):
            found += self._match_run(run)
        if kinds & {"cvv", "expiry"}:
            cards = [m.end for m in found if m.kind == "card"]
            for kind, start, end in self._lang.card_details.find(text, cards, _norm, kinds):
                if not any(m.start < end and start < m.end for m in found):
                    found.append(PiiMatch(kind, start, end))
        return tuple(sorted(found, key=lambda m: m.start))

    def _emails(self, text: str) -> list[PiiMatch]:
        ats = [m.span() for m in self._lang.at.finditer(text)]
        if not ats:
            return []
        found = []
        window = max(0, ats[0][0] - _EMAIL_REACH), ats[-1][1] + _EMAIL_REACH
        for m in self._lang.email.finditer(text, *window):
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
        """The kind named by the nearest keyword among the last ordinary words.

        A two-word keyword ("id картки") ending at a word goes before the word alone; one that
        the word before matches by itself ("телефон" in "телефон карты") is farther away.
        """
        words = list(recent)
        for i in range(len(words) - 1, -1, -1):
            for before in ([words[i - 1]] if i else []) + [""]:
                phrase = f"{before} {words[i]}" if before else words[i]
                for kind, pattern in self._lang.keywords:
                    if (found := pattern.match(phrase)) and found.end() > len(before):
                        return kind
        return None

    def _runs(self, text: str, emails: list[PiiMatch]) -> list[_Run]:
        """Digit groups and number words joined by spaces, dashes, brackets or commas.

        A comma ends the run unless a keyword stands before it or the groups either side of it
        are dictation-sized: number words, placeholders or one or two written digits.
        """
        lang, runs = self._lang, []
        recent: deque[str] = deque(maxlen=_CONTEXT_WORDS)  # not numbers, placeholders, e-mails
        words: list[tuple[int, int, int]] = []  # number words said without a break
        run: _Run | None = None
        plus: int | None = None
        letters: int | None = None
        soft = brk = words_soft = words_tied = False
        comma = dash = small = False  # separators since the last group; that group was small

        def flush_words() -> None:
            if words and run is not None:
                run.groups += _compose(words, words_soft, words_tied)
            words.clear()

        def close() -> None:
            nonlocal run, plus, letters, soft, brk, comma, dash
            flush_words()
            if run is not None:
                runs.append(run)
            run, plus, letters = None, None, None
            soft = brk = comma = dash = False

        for m in lang.token.finditer(text):
            kind, start, end = m.lastgroup, m.start(), m.end()
            while emails and emails[0].end <= start:
                emails.pop(0)
            if emails and emails[0].start <= start:
                close()
                continue
            if kind in ("sep", "dot"):
                if run is not None:
                    sep = m.group()
                    brk = brk or not sep.isspace()
                    comma = comma or "," in sep
                    dash = dash or kind == "dot" or any(ch in sep for ch in "-‐–—")
                continue
            key = _norm(m.group())
            value = {"num": key, "mask": ""}.get(kind) if kind != "word" else lang.numbers.get(key)
            if value is not None:
                was_small, small = small, kind != "num" or len(key) <= 2
                if comma and run is not None and run.context is None and not (was_small and small):
                    close()  # "2019, 2020": a comma between quantities, not a dictation pause
                tied = dash or (comma and was_small and small)
                run = run or _Run(self._context(recent), plus, letters)
                if isinstance(value, str) or brk:
                    flush_words()
                if isinstance(value, str):
                    run.groups.append(_Group(value, start, end, soft, tied))
                else:
                    if not words:
                        words_soft, words_tied = soft, tied
                    words.append((value, start, end))
                soft = brk = comma = dash = False
            elif key in lang.dashes and run is not None:  # "тире" said between groups
                brk = dash = True
            elif key in lang.soft:
                flush_words()
                soft, brk, comma, dash = run is not None, False, False, False
            else:
                close()
                if kind == "plus" or key in lang.plus:
                    plus = start
                elif kind == "word" and _LETTERS.fullmatch(m.group()):
                    letters = start
                elif kind == "word" and len(key) > 1:
                    recent.append(key)
        close()
        return runs

    def _kind(self, run: _Run, i: int, digits: str, lens: tuple[int, ...], soft: bool,
              weak: bool) -> str | None:
        kinds, ctx, n = self.config.kinds, run.context, len(digits)
        if "passport" in kinds:
            if i == 0 and run.letters is not None and n == 6:
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

    def _loose(self, run: _Run, digits: str, soft: bool) -> str | None:
        """The keyword's kind for a number of about its length that no checksum confirmed."""
        kind = run.context
        if kind not in _LOOSE or kind not in self.config.kinds:
            return None
        low, high = _LOOSE[kind]
        if not low <= len(digits) <= high or len(set(digits)) == 1:
            return None
        return kind if kind == "passport" or not soft else None

    def _match_run(self, run: _Run) -> list[PiiMatch]:
        """An INN or SNILS with no keyword before it only counts if all the run is PII."""
        total = sum(len(group.digits) for group in run.groups)
        picks = None
        if total >= 10 and all(group.digits for group in run.groups):
            covered, picks = self._best(run, weak=True)
            picks = picks if covered == total else None
        return self._spans(run, self._best(run, weak=False)[1] if picks is None else picks)

    def _spans(self, run: _Run, picks: list[tuple[str, int, int]]) -> list[PiiMatch]:
        """Matches in the text; after a keyword each takes in the free groups tied to it."""
        groups, found = run.groups, []
        taken = {k for _, i, j in picks for k in range(i, j + 1)}
        for kind, i, j in picks:
            first, size = i, sum(len(group.digits) for group in groups[i:j + 1])
            while run.context and i > 0 and groups[i].tied and groups[i - 1].digits \
                    and i - 1 not in taken:
                i -= 1
                taken.add(i)
            while run.context and j + 1 < len(groups) and groups[j + 1].tied \
                    and groups[j + 1].digits and j + 1 not in taken:
                j += 1
                taken.add(j)
            start = groups[i].start
            if i == 0 and kind == "phone" and run.plus is not None:
                start = run.plus
            if first == 0 and kind == "passport" and run.letters is not None and size == 6:
                start = run.letters
            found.append(PiiMatch(kind, start, groups[j].end))
        return found

    def _best(self, run: _Run, weak: bool) -> tuple[int, list[tuple[str, int, int]]]:
        """The matches (kind, first group, last group) covering most digits of the run.

        Ties go to fewer matches, then to more digits confirmed by a checksum. A number the
        keyword's kind is guessed for by length alone never holds one of that kind that passes
        its check: "8-916-123-45-67 5" is a phone and a 5, not a 12-digit phone.
        """
        groups, m, ctx = run.groups, len(run.groups), run.context
        most = _MAX_IBAN_DIGITS if ctx == "iban" else _MAX_DIGITS
        best: list[tuple[int, int, int, list[tuple[str, int, int]]]] = [(0, 0, 0, [])] * (m + 1)
        sure_end = m  # the least last group of a checked number of the keyword's kind from i on
        for i in range(m - 1, -1, -1):
            best[i] = best[i + 1]
            digits, lens, soft = "", (), False
            for j in range(i, m):
                digits += groups[j].digits
                lens += (len(groups[j].digits),)
                soft = soft or (j > i and groups[j].soft)
                if len(digits) > most or not groups[j].digits:
                    break
                kind = self._kind(run, i, digits, lens, soft, weak) if len(digits) > 5 else None
                sure = kind is not None
                if sure and kind == ctx:
                    sure_end = min(sure_end, j)
                elif not sure and sure_end > j:
                    kind = self._loose(run, digits, soft)
                if kind is None:
                    continue
                covered, count, checked, rest = best[j + 1]
                score = (covered + len(digits), count - 1, checked + len(digits) * sure)
                if score > best[i][:3]:
                    best[i] = (*score, [(kind, i, j), *rest])
        return best[0][0], best[0][3]
