"""What the customer wrote in an e-mail, without the quoted earlier mail and the signature.

`mail-parser-reply`, the maintained reply parser on PyPI, has no Russian or Ukrainian
headers (its languages are en, de, fr, es, it, nl, pl, sv, cs, da, ja, ko, zh as of 1.36),
so this small module does it for the mail our customers send: Gmail/Apple ("… пишет:",
"… написав(ла):", "On … wrote:"), Outlook ("-----Original Message-----", "-----Исходное
сообщение-----", a block of "От:/Від:/From:" with "Отправлено:/Надіслано:/Sent:" or
"Кому:/To:" or "Тема:/Subject:"), Thunderbird and Yandex ("dd.mm.yyyy, hh:mm, … :"),
">"-quoted lines, a "-- " signature, a sign-off («С уважением», «З повагою», "Best
regards") ending the message, and mobile footers («Отправлено с iPhone»). Everything from
the first of those on is dropped; the text above it is the new message.
"""

from __future__ import annotations

import re

# A line that starts the quoted earlier message (all of it and what follows goes).
_QUOTE_HEADERS = [
    re.compile(p, re.IGNORECASE) for p in (
        r"^-{2,}\s*(original message|исходное сообщение|вихідне повідомлення|"
        r"оригінальне повідомлення|пересланное сообщение|переслане повідомлення|"
        r"forwarded message)\s*-{2,}",
        # Gmail, Apple Mail: "… Иван <ivan@example.ru> написал(а):", "… пише:", "… wrote:"
        r"^.{0,300}\b(wrote|пишет|написал|написала|написал\(а\)|написав|написав\(ла\)|"
        r"пише)\s*:\s*$",
        # Gmail in Russian: "пн, 7 дек. 2026 г. в 10:15, Иван <ivan@example.ru>:"
        r"^.{0,300}<[^<>\s]+@[^<>\s]+>\s*:\s*$",
        # Thunderbird, Yandex: "07.12.2026, 10:15, Иван:" / "07.12.2026 10:15, Иван пишет:"
        r"^\d{1,2}[./]\d{1,2}[./]\d{2,4}[, ]+(в |о |at )?\d{1,2}:\d{2}.{0,200}:\s*$",
        r"^_{10,}\s*$",  # Outlook's rule above its header block
    )
]
# Outlook's header block: a "From" line followed within a few lines by another header.
_FROM = re.compile(r"^\*?(от|від|from)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER = re.compile(
    r"^\*?(отправлено|надіслано|дата|sent|date|кому|to|тема|subject|копия|копія|cc)\s*:",
    re.IGNORECASE,
)
HEADER_LOOKAHEAD = 4
_SIGNATURE = re.compile(r"^--\s*$|^—\s*$|^_{2,9}\s*$")
_SIGN_OFF = re.compile(
    r"^(с уважением|с наилучшими пожеланиями|всего доброго|спасибо заранее|"
    r"з повагою|з найкращими побажаннями|всього найкращого|дякую заздалегідь|"
    r"best regards|kind regards|regards|sincerely)[\s,.!]*$",
    re.IGNORECASE,
)
_MOBILE_FOOTER = re.compile(
    r"^(отправлено|надіслано|sent)\s+(с|из|з|from)\s+.{2,60}$", re.IGNORECASE
)
SIGN_OFF_TAIL = 6  # a sign-off this close to the end starts the signature


def strip_email(body: str) -> str:
    """The new text of a plain-text e-mail body (quoted replies and signature removed)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    end = _quote_start(lines)
    kept = [line for line in lines[:end] if not line.lstrip().startswith(">")]
    kept = kept[: _signature_start(kept)]
    return "\n".join(kept).strip()


def _quote_start(lines: list[str]) -> int:
    for index, raw in enumerate(lines):
        line = raw.strip()
        if any(pattern.match(line) for pattern in _QUOTE_HEADERS):
            return index
        if _FROM.match(line) and any(
            _HEADER.match(following.strip())
            for following in lines[index + 1 : index + 1 + HEADER_LOOKAHEAD]
        ):
            return index
        if line.startswith(">") and _only_quotes_follow(lines[index:]):
            return index
    return len(lines)


def _only_quotes_follow(lines: list[str]) -> bool:
    return all(not line.strip() or line.lstrip().startswith(">") for line in lines)


def _signature_start(lines: list[str]) -> int:
    for index, raw in enumerate(lines):
        line = raw.strip()
        if _SIGNATURE.match(raw.rstrip("\n")) or _MOBILE_FOOTER.match(line):
            return index
        if _SIGN_OFF.match(line) and len(lines) - index <= SIGN_OFF_TAIL:
            return index
    return len(lines)
