"""E-mail bodies as customers send them (ru/uk, the usual mail clients): only the new text
is analysed, never the quoted earlier mail (the operator's own words) or the signature."""

from __future__ import annotations

import pytest

from sentiment_svc.analysis.email_text import strip_email
from sentiment_svc.analysis.lexicon import ComplaintLexicon

GMAIL_RU = """Добрый день!

Деньги за заказ 4471 так и не вернули, хотя обещали за три дня.
Жду ответа.

пн, 7 дек. 2026 г. в 10:15, Служба поддержки <support@shop.example>:

> Здравствуйте, Иван!
> Возврат оформлен, деньги поступят в течение трёх дней.
> Спасибо, что выбрали нас.
"""

GMAIL_UK = """Вітаю.
Гроші досі не повернули, мені ніхто не допоміг.

пт, 4 груд. 2026 р. о 12:00 Служба підтримки <support@shop.example> пише:
> Дякуємо за звернення! Ми повернемо кошти протягом трьох днів.
"""

OUTLOOK_RU = """Это уже третье письмо, верните деньги.

С уважением,
Иван Петров
+7 916 000-00-00

-----Исходное сообщение-----
От: Служба поддержки <support@shop.example>
Отправлено: 5 декабря 2026 г. 9:00
Кому: Иван Петров
Тема: RE: Возврат

Спасибо за обращение, мы вернём деньги.
"""

OUTLOOK_UK_BLOCK = """Скільки можна чекати? Прошу покликати керівника.

З повагою,
Олена

________________________________
Від: Служба підтримки <support@shop.example>
Надіслано: 3 грудня 2026 р. 18:20
Кому: Олена
Тема: Повернення коштів

Дякуємо, що звернулися. Вибачте за затримку, ми запропонуємо бонус.
"""

APPLE_RU = """Спасибо, деньги пришли!

Отправлено с iPhone

> 6 дек. 2026 г., в 14:02, Служба поддержки <support@shop.example> написал(а):
>
> Приносим извинения, деньги отправлены.
"""

THUNDERBIRD_UK = """Знову не працює, я вже втретє пишу з цього питання.
--
Олег Коваленко
ТОВ «Ромашка», тел. 044 000 00 00

07.12.2026 10:15, Служба підтримки пише:
> Перезавантажте роутер.
"""


@pytest.mark.parametrize(
    ("body", "kept", "dropped"),
    [
        (GMAIL_RU, "так и не вернули", ["Возврат оформлен", "Спасибо, что выбрали", "support@"]),
        (GMAIL_UK, "ніхто не допоміг", ["Дякуємо за звернення", "пише"]),
        (OUTLOOK_RU, "верните деньги", ["С уважением", "+7 916", "мы вернём", "Тема"]),
        (OUTLOOK_UK_BLOCK, "покликати керівника", ["З повагою", "Вибачте", "бонус", "Від:"]),
        (APPLE_RU, "деньги пришли", ["iPhone", "Приносим извинения"]),
        (THUNDERBIRD_UK, "втретє пишу", ["Коваленко", "Перезавантажте", "044"]),
    ],
    ids=["gmail-ru", "gmail-uk", "outlook-ru", "outlook-uk", "apple-ru", "thunderbird-uk"],
)
def test_only_the_new_text_remains(body: str, kept: str, dropped: list[str]) -> None:
    text = strip_email(body)
    assert kept in text
    for quoted in dropped:
        assert quoted not in text, f"{quoted!r} left in {text!r}"


def test_the_operator_words_quoted_in_a_reply_do_not_reach_the_analysis() -> None:
    """The quoted reply holds the operator's apology and bonus: read as the customer's, it
    would turn a complaint into thanks; stripped, the complaint is what is read."""
    lexicon = ComplaintLexicon.load()
    whole = set(lexicon.categories(OUTLOOK_UK_BLOCK, "uk"))
    stripped = set(lexicon.categories(strip_email(OUTLOOK_UK_BLOCK), "uk"))
    assert "escalation_request" in stripped
    assert "operator_apologised" in whole and "operator_apologised" not in stripped


def test_plain_messages_and_crlf_pass_unchanged() -> None:
    assert strip_email("Мне так и не помогли.") == "Мне так и не помогли."
    assert strip_email("Рядок один\r\nРядок два\r\n") == "Рядок один\nРядок два"


def test_a_sign_off_early_in_a_long_message_is_kept() -> None:
    """«С уважением» in the middle of the text is not the signature."""
    body = "\n".join(["С уважением", *[f"строка {n}" for n in range(10)]])
    assert strip_email(body) == body


def test_a_mail_that_is_only_quotes_leaves_nothing() -> None:
    assert strip_email("> старое письмо\n> ещё строка\n") == ""
