"""The language knowledge behind `tools.asr_noise`: its ru and uk tables (`asr_noise.yaml`:
short words, fillers, endings, spellings of one sound, prefixes, number words) and numbers
written as words or digits, as Whisper writes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TABLES = Path(__file__).with_name("asr_noise.yaml")
APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'"})


@dataclass(frozen=True)
class Language:
    """One language's tables (`asr_noise.yaml`)."""

    short_words: frozenset[str]
    fillers: tuple[str, ...]
    endings: tuple[tuple[str, tuple[str, ...]], ...]  # longest ending first
    homophones: tuple[tuple[str, str], ...]
    prefixes: tuple[str, ...]
    units: tuple[str, ...]  # 0-19
    tens: tuple[str, ...]  # 20-90
    hundreds: tuple[str, ...]  # 100-900
    thousand: tuple[str, ...]  # after one, after two to four, after five and more
    feminine: tuple[str, ...]  # one and two before the word for thousand
    numbers: dict[str, int]  # every number word and its value


def load_languages(path: Path = TABLES) -> dict[str, Language]:
    import yaml

    languages = {}
    for lang, table in yaml.safe_load(path.read_text(encoding="utf-8")).items():
        units, tens, hundreds, thousand = (tuple(table[key].split())
                                           for key in ("units", "tens", "hundreds", "thousand"))
        numbers = {word: value for value, word in enumerate(units)}
        numbers |= {word: 10 * (i + 2) for i, word in enumerate(tens)}
        numbers |= {word: 100 * (i + 1) for i, word in enumerate(hundreds)}
        numbers |= dict.fromkeys(thousand, 1000) | table["other_forms"]
        languages[lang] = Language(
            short_words=frozenset(table["short_words"].split()),
            fillers=tuple(table["fillers"].split()),
            endings=tuple(sorted(((end, tuple(to.split())) for end, to in table["endings"].items()),
                                 key=lambda pair: -len(pair[0]))),
            homophones=tuple(tuple(pair.split(">")) for pair in table["homophones"].split()),
            prefixes=tuple(table["prefixes"].split()), units=units, tens=tens,
            hundreds=hundreds, thousand=thousand, feminine=tuple(table["feminine"].split()),
            numbers=numbers)
    return languages


LANGUAGES = load_languages()


def is_number_word(word: str, lang: str) -> bool:
    return word.lower().translate(APOSTROPHES).replace("ё", "е") in LANGUAGES[lang].numbers


def words_to_digits(words: Sequence[str], lang: str, dictated: str = "") -> str:
    """«три тысячи пятьсот» -> 3500; digits read one by one («один два три») -> 123, or
    with `dictated` between them (Whisper writes 1-2-3 and 1, 2, 3 too)."""
    numbers: list[int] = []
    current: int | None = None
    for word in words:
        value = LANGUAGES[lang].numbers[word.lower().translate(APOSTROPHES).replace("ё", "е")]
        if value == 1000:
            current = (current or 1) * 1000
        elif current and value and current % 10 ** len(str(value)) == 0:
            current += value
        else:
            if current is not None:
                numbers.append(current)
            current = value
    numbers.append(current or 0)
    separator = dictated if all(n < 10 for n in numbers) else " "
    return separator.join(map(str, numbers))


def digits_to_words(digits: str, lang: str) -> str:
    """3000 -> «три тысячи»; long or zero-led numbers (phones, cards) are read digit by digit."""
    if len(digits) > 6 or (digits.startswith("0") and len(digits) > 1):
        return " ".join(LANGUAGES[lang].units[int(d)] for d in digits)
    value = int(digits)
    if value == 0:
        return LANGUAGES[lang].units[0]
    thousands, rest = divmod(value, 1000)
    words: list[str] = []
    if thousands:
        feminine = dict(enumerate(LANGUAGES[lang].feminine, start=1))
        head = _below_thousand(thousands, lang)
        if thousands % 100 // 10 != 1 and thousands % 10 in feminine:
            head = head[:-1] + [feminine[thousands % 10]]
        form = _plural(thousands, LANGUAGES[lang].thousand)
        words += ([form] if thousands == 1 else [*head, form])
    return " ".join(words + _below_thousand(rest, lang))


def _below_thousand(value: int, lang: str) -> list[str]:
    hundreds, rest = divmod(value, 100)
    words = [LANGUAGES[lang].hundreds[hundreds - 1]] if hundreds else []
    if rest >= 20:
        words.append(LANGUAGES[lang].tens[rest // 10 - 2])
        rest %= 10
    return words + ([LANGUAGES[lang].units[rest]] if rest else [])


def _plural(n: int, forms: tuple[str, ...]) -> str:
    if n % 100 in range(11, 15):
        return forms[2]
    return forms[0] if n % 10 == 1 else forms[1] if n % 10 in (2, 3, 4) else forms[2]
