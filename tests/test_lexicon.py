"""The complaint-phrase lexicon: bundled patterns, negation, numbers, YAML validation."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pymorphy3
import pytest

from sentiment_svc.alerts.policy import CATEGORIES, CUSTOMER_CATEGORIES
from sentiment_svc.analysis import lexicon as lexicon_module
from sentiment_svc.analysis.lexicon import CategoryMatch, ComplaintLexicon, LexiconError


def customer(lexicon, text: str, lang: str) -> tuple[str, ...]:
    """The complaint categories, as read on the customer channel (operator actions apart)."""
    return tuple(c for c in lexicon.categories(text, lang) if c in CUSTOMER_CATEGORIES)


@pytest.fixture(scope="module")
def lexicon() -> ComplaintLexicon:
    return ComplaintLexicon.load()


RU = [
    # inflections, gaps and the negation that belongs to the pattern itself
    ("мне не помогли", ("not_helped",)),
    ("вы мне так и не помогли", ("not_helped",)),
    ("МНЕ НЕ ПОМОГЛИ!!!", ("not_helped",)),
    ("нет мне не помогли", ("not_helped",)),  # "нет" as an answer does not deny the complaint
    ("нет, мне не помогли", ("not_helped",)),
    # double negation: a denied claim of a complaint is no complaint
    ("Не могу сказать, что мне не помогли.", ()),
    ("не могу сказать что мне не помогли", ()),
    ("нельзя сказать что мне не помогли", ()),
    # trigger words in a neutral context
    ("мне помогли в прошлый раз, хочу ещё спросить", ()),
    ("не могли бы вы мне помочь", ()),
    ("у меня суд завтра, можно перенести платёж?", ()),
    ("менеджер дал мне неправильную информацию", ()),
    ("интернет постоянно отключается", ()),
    ("хочу похудеть к лету", ()),
    ("стою как дурак в очереди", ()),
    ("а сколько стоит перевод на карту", ()),
    # word order and numbers written any way
    ("звоню уже третий раз", ("repeat_contact",)),
    ("третий раз звоню", ("repeat_contact",)),
    ("я вам в 5 раз звоню", ("repeat_contact",)),
    ("в 3-й раз обращаюсь по этому вопросу", ("repeat_contact",)),
    ("уже раз пять звонил и толку ноль", ("not_helped", "repeat_contact")),
    ("первый раз звоню, подскажите тариф", ()),
    ("жду уже 40 минут", ("waiting",)),
    ("подождите минуту", ()),
    # Whisper without punctuation
    ("сколько можно ждать я уже час на линии вишу", ("waiting",)),
    ("сколько можно достали вы меня это безобразие", ("rudeness", "waiting")),
    ("верните деньги", ("money",)),
    ("деньги мне так и не вернули", ("money",)),  # money is not negatable
    ("я отключусь и перейду к другому оператору", ("churn_threat",)),
    ("я не хочу расторгать договор", ()),
    ("если не решите вопрос я расторгну договор", ("churn_threat",)),  # "не" belongs to "решите"
    ("позовите руководителя", ("escalation_request",)),
    ("подам на вас в суд и пожалуюсь в роспотребнадзор", ("legal_threat",)),
    ("я вовсе не собираюсь подавать в суд", ()),
    ("спасибо большое вы мне очень помогли", ("gratitude",)),
    ("спасибо за ничего", ()),
    ("ни спасибо ни извините", ()),
    ("Спасибо, конечно, но проблему так и не решили.", ("not_helped",)),
    ("не хамите мне", ("rudeness",)),  # a command: the rudeness is happening
    ("я не хамлю я просто устал", ()),
    ("да пошли вы нахуй", ("profanity", "rudeness")),
    ("ну блин опять", ("profanity",)),
]

UK = [
    ("мені не допомогли", ("not_helped",)),
    ("ви мені так і не допомогли", ("not_helped",)),
    ("не скажу що мені не допомогли", ()),
    ("не скажу, що мені не допомогли", ()),
    ("ні, все добре", ()),
    ("ні мені не допомогли", ("not_helped",)),
    ("мені вже допомогли, дякую", ("gratitude",)),
    ("скільки коштує доставка до Львова", ()),
    ("дзвоню вже втретє", ("repeat_contact",)),
    ("дзвоню вже третій раз", ("repeat_contact",)),
    ("третій раз дзвоню", ("repeat_contact",)),
    ("5 разів дзвонила", ("repeat_contact",)),
    ("дзвоню вдруге бо забула спитати про відсотки", ()),  # own follow-up
    ("скільки можна чекати", ("waiting",)),
    ("чекаю вже годину на лінії", ("waiting",)),
    ("я вже тиждень чекаю на доставку", ("waiting",)),
    ("ви знущаєтесь", ("rudeness",)),
    ("не хамте мені", ("rudeness",)),
    ("поверніть гроші", ("money",)),
    ("повернiть гроші", ("money",)),  # a Latin "i" inside the word
    ("я відключусь і піду до іншого провайдера", ("churn_threat",)),
    ("я не збираюся розривати договір", ()),
    ("якщо не вирішите я розірву договір", ("churn_threat",)),
    ("хочу перенести свій номер до вас", ()),  # porting in is no churn
    ("покличте керівника", ("escalation_request",)),
    ("з’єднайте мене зі старшим", ("escalation_request",)),  # typographic apostrophe
    ("подам до суду і поскаржуся в нбу", ("legal_threat",)),
    ("мій адвокат з вами зв'яжеться", ("legal_threat",)),
    ("дякую ви мені дуже допомогли", ("gratitude",)),
    ("дякую, що нарешті відповіли через годину", ()),
    ("дякую за нічого", ()),
    ("курва мать", ("profanity",)),
]


@pytest.mark.parametrize(("text", "expected"), RU)
def test_russian(lexicon: ComplaintLexicon, text: str, expected: tuple[str, ...]) -> None:
    assert customer(lexicon, text, "ru") == expected


@pytest.mark.parametrize(("text", "expected"), UK)
def test_ukrainian(lexicon: ComplaintLexicon, text: str, expected: tuple[str, ...]) -> None:
    assert customer(lexicon, text, "uk") == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("мне не помогли", "bg", ("not_helped",)),  # Whisper guessed another language
        ("скільки можна чекати", "pl", ("waiting",)),
        ("thank you", "en", ()),
    ],
)
def test_other_language_tries_both(
    lexicon: ComplaintLexicon, text: str, lang: str, expected: tuple[str, ...]
) -> None:
    assert customer(lexicon, text, lang) == expected


def test_match_reports_negated_matches_with_spans(lexicon: ComplaintLexicon) -> None:
    [found] = lexicon.match("я не хочу расторгать договор", "ru")
    assert found.category == "churn_threat" and found.negated and found.span == (3, 5)
    [found] = lexicon.match("ну мне не помогли", "ru")
    assert found == CategoryMatch("not_helped", found.pattern, (2, 4), False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.negated = True  # type: ignore[misc]


def test_empty_and_wordless_text(lexicon: ComplaintLexicon) -> None:
    assert lexicon.match("", "ru") == [] and customer(lexicon, "... ?!", "uk") == ()


def test_every_bundled_category_has_patterns_in_both_languages(lexicon: ComplaintLexicon) -> None:
    for lang in ("ru", "uk"):
        assert {rule.category for rule in lexicon._rules[lang]} == set(CATEGORIES)
        assert len(lexicon._rules[lang]) >= 15 * len(CATEGORIES)


def test_every_bundled_pattern_matches_its_own_wording(lexicon: ComplaintLexicon) -> None:
    """Catches patterns whose words lemmatise differently from the text they should find."""
    silent = []
    for lang, rules in lexicon._rules.items():
        for rule in rules:
            pieces = [piece.split("|") for piece in rule.text.split() if piece != "..."]
            for choice in range(max(len(alternatives) for alternatives in pieces)):
                words = [alts[min(choice, len(alts) - 1)].lstrip("=") for alts in pieces]
                found = [m for m in lexicon.match(" ".join(words), lang) if m.pattern == rule.text]
                if not found or found[0].negated:
                    silent.append((lang, rule.category, " ".join(words)))
    assert silent == []


def test_custom_file_extends_the_bundled_lexicon(tmp_path: Path) -> None:
    custom = tmp_path / "centre.yaml"
    custom.write_text(
        "extends: builtin\n"
        "categories:\n"
        "  not_helped:\n"
        "    ru: [netbox не работать, =турбонет ... не грузить]\n"
        "    uk: [netbox не працювати]\n",
        encoding="utf-8",
    )
    lexicon = ComplaintLexicon.load(custom)
    assert customer(lexicon, "мой NetBox опять не работает", "ru") == ("not_helped",)
    assert customer(lexicon, "Турбонет вообще ничего не грузит", "ru") == ("not_helped",)
    assert customer(lexicon, "мій netbox знову не працює", "uk") == ("not_helped",)
    assert customer(lexicon, "верните деньги", "ru") == ("money",)  # the bundled patterns too
    # The centre's own patterns are marked as such: the tuned model never overrules them.
    own = [m for m in lexicon.match("мой NetBox опять не работает", "ru") if "netbox" in m.pattern]
    bundled = lexicon.match("верните деньги", "ru")
    assert own and all(m.own for m in own) and not any(m.own for m in bundled)


def test_custom_file_without_extends_replaces_the_bundled_lexicon(tmp_path: Path) -> None:
    custom = tmp_path / "only.yaml"
    custom.write_text(
        "categories:\n  money:\n    negatable: true\n    ru:\n      - pattern: тариф турбо\n"
        "        ordered: true\n",
        encoding="utf-8",
    )
    lexicon = ComplaintLexicon.load(custom)
    assert customer(lexicon, "опять подняли тариф турбо", "ru") == ("money",)
    assert customer(lexicon, "турбо тариф", "ru") == ()
    assert customer(lexicon, "не тариф турбо", "ru") == ()
    assert customer(lexicon, "мне не помогли", "ru") == ()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("categories:\n  complaints:\n    ru: [не помочь]\n", "unknown category 'complaints'"),
        ("categories:\n  money:\n    ru: [деньги, '... вернуть']\n", "pattern #2 '... вернуть'"),
        ("categories:\n  money:\n    ru: [верните * деньги]\n", "category 'money', ru"),
        ("categories:\n  money:\n    ru:\n      - pattern: x\n        windo: 3\n", "windo"),
        ("categories:\n  money:\n    negatable: maybe\n", "category 'money', negatable"),
        (
            "categories:\n  money:\n    uk:\n      - {pattern: гроші повернути, window: 1}\n",
            "pattern 'гроші повернути': window 1",
        ),
        ("categories:\n  money:\n    ru: [вернуть|вернуть-то деньги]\n", "single word"),
        ("categories: [not, a, mapping\n", "not valid YAML"),
        ("", "top level"),
    ],
)
def test_invalid_file_names_the_place(tmp_path: Path, content: str, expected: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError) as raised:
        ComplaintLexicon.load(bad)
    assert str(bad) in str(raised.value) and expected in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="cannot read"):
        ComplaintLexicon.load(tmp_path / "absent.yaml")


def test_ukrainian_without_its_dictionary_falls_back_to_stems(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = pymorphy3.MorphAnalyzer

    def analyzer(lang: str = "ru", **kwargs: object) -> pymorphy3.MorphAnalyzer:
        if lang == "uk":
            raise ValueError("pymorphy3-dicts-uk is not installed")
        return real(lang=lang, **kwargs)

    monkeypatch.setattr(lexicon_module.pymorphy3, "MorphAnalyzer", analyzer)
    lexicon_module._analyzer.cache_clear()
    lexicon_module._analyse.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=lexicon_module.__name__):
            fallback = ComplaintLexicon.load()
            assert customer(fallback, "мені не допомогли", "uk") == ("not_helped",)
            assert customer(fallback, "скільки можна чекати", "uk") == ("waiting",)
            assert customer(fallback, "поверніть гроші", "uk") == ("money",)
            assert customer(fallback, "ні, все добре", "uk") == ()
            assert customer(fallback, "мне не помогли", "ru") == ("not_helped",)
            ComplaintLexicon.load()
        warnings = [r for r in caplog.records if "Ukrainian dictionary" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        lexicon_module._analyzer.cache_clear()
        lexicon_module._analyse.cache_clear()


SLIPS = [
    # Whisper-base slips on Ukrainian and Russian speech: an unknown word one or two letters
    # from a form of a pattern word is read as that word.
    ("Пакличти кирівника!", "uk", ("escalation_request",)),
    ("Я вже втретє звоню з цього питання.", "uk", ("repeat_contact",)),
    ("Позовите руководитиля!", "ru", ("escalation_request",)),
    ("Мне так и не памогли", "ru", ("not_helped",)),
    # ... but the negation window still applies, and known words are never bent
    ("Я не хочу кликати кирівника", "uk", ()),
    ("Позвоните в понедельник", "ru", ()),
    ("Поговорите с родителями", "ru", ()),
]


@pytest.mark.parametrize(("text", "lang", "expected"), SLIPS)
def test_recognition_slips_of_pattern_words_still_match(lexicon, text, lang, expected):
    assert customer(lexicon, text, lang) == expected


def test_slip_precision_counts_what_only_a_slip_found(lexicon, tmp_path, capsys):
    from tools.slip_precision import main, slip_matches

    exact = lexicon.without_slips()
    assert slip_matches(lexicon, exact, "Пакличти кирівника!", "uk") == {"escalation_request"}
    assert slip_matches(lexicon, exact, "Покличте керівника!", "uk") == set()  # heard right
    corpus = tmp_path / "slips.tsv"
    corpus.write_text(
        "id\tlang\ttext\tsentiment\tcomplaint\tcategories\taction\n"
        "s1\tuk\tПакличти кирівника!\tneg\t1\tescalation_request\tsupervisor\n"
        "s2\tuk\tПакличти кирівника, жартую\tneu\t0\t-\tnone\n", encoding="utf-8")
    main([str(corpus)])
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["all"] | {"exact_precision": None} == {
        "utterances": 2, "slip_matches": 2, "right": 1, "precision": 0.5,
        "exact_matches": 0, "exact_right": 0, "exact_precision": None}


def test_a_misheard_word_far_from_every_pattern_word_matches_nothing(lexicon):
    assert customer(lexicon, "Мені так і не дапамагли, шмяк брямс", "uk") == ()


ORDINARY_SLIPS = [
    # A misheard ordinary word is that word, not a pattern word: "пожалуста" is one letter
    # from "пожалуйста" and two from "пожалуюсь" (legal_threat); a routine insurance call
    # must not raise a critical supervisor alert.
    ("Подскажите, пожалуста, до какого числа действует мой полис", "ru"),
    ("Оформите, пожалста, продление страховки на квартиру", "ru"),
    # A legal threat never rests on one misheard word alone ("юрест", "адвакат"): a slip
    # counts only beside a pattern word heard right.
    ("я по поводу страхового случая, юрест сказал позвонить", "ru"),
    ("адвакат просил копию договора", "ru"),
]


@pytest.mark.parametrize(("text", "lang"), ORDINARY_SLIPS)
def test_a_misrecognised_ordinary_word_never_becomes_a_legal_threat(lexicon, text, lang):
    assert "legal_threat" not in customer(lexicon, text, lang)


def test_a_slip_is_read_only_near_exactly_one_pattern_word():
    from sentiment_svc.analysis.lexicon import _analyzer
    from sentiment_svc.analysis.slips import SlipMatcher

    matcher = SlipMatcher(["помочь", "помыть"], _analyzer("ru"))
    assert matcher.near("памочь") == {"помочь"}
    assert matcher.near("памыть") == {"помыть"}
    assert matcher.near("помоть") == frozenset()  # one letter from both: ambiguous
    assert matcher.near("помч") == frozenset()  # too short to be read as a slip


NEGATED_AFTER = [
    # The label guide: a negated or dismissed trigger is not tagged, wherever the negation
    # stands, before or after the verb.
    ("переходити до іншого оператора я не збираюся", "uk", ()),
    ("переходити до іншого оператора я не буду", "uk", ()),
    ("уходить от вас я не собираюсь, просто спросить", "ru", ()),
    ("Нет, уходить к другому оператору, я не собираюсь.", "ru", ()),  # Whisper's comma
    ("расторгать договор я не буду", "ru", ()),
    ("подавать в суд я не собираюсь", "ru", ()),
    # ... but not a negation in another clause, or of another verb
    ("хочу расторгнуть договор и не хочу больше слышать", "ru", ("churn_threat",)),
    ("уйду к конкурентам если вы не решите", "ru", ("churn_threat",)),
    ("я перейду до іншого оператора, не буду більше чекати", "uk", ("churn_threat",)),
    ("хочу уйти к другому оператору, я не собираюсь больше ждать", "ru", ("churn_threat",)),
]


@pytest.mark.parametrize(("text", "lang", "expected"), NEGATED_AFTER)
def test_a_negation_after_the_verb_in_its_clause_cancels_the_phrase(lexicon, text, lang, expected):
    found = customer(lexicon, text, lang)
    assert tuple(c for c in found if c in ("churn_threat", "legal_threat")) == expected


def test_a_pleased_exclamation_is_not_profanity(lexicon):
    assert "profanity" not in customer(lexicon, "офигеть, уже подключили, спасибо", "ru")
    assert "profanity" not in customer(lexicon, "капець, як круто", "uk")
    assert "profanity" in customer(lexicon, "блин, третий раз звоню", "ru")
