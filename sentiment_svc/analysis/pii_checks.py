"""Checksums and shapes of the numbers that personal-data masking (``pii.py``) looks for.

Each check takes the digits of a candidate number; ``CHECKS`` adds the group lengths as said
and the kind a keyword before it names, for the checks that depend on them.
"""

from __future__ import annotations

from collections.abc import Callable

# first three digits of Russian bank accounts (chart of accounts of the Bank of Russia, 809-P):
# 301-302 correspondent, 401-408 budget, settlement and current (40817 a person's, 40702 a
# firm's, 40802 a sole trader's), 423 and 426 a person's deposits, 031-032 treasury (since 2021)
RU_ACCOUNT_PREFIXES = frozenset(["301", "302", *(str(n) for n in range(401, 409)), "423", "426",
                                 "031", "032"])
# IBAN lengths of the countries callers name most; other countries only need the checksum
IBAN_LENGTHS = {"UA": 29, "RU": 33, "BY": 28, "KZ": 20, "DE": 22, "PL": 28, "LT": 20, "LV": 21,
                "EE": 20, "GE": 22, "MD": 24, "AZ": 28, "GB": 22, "FR": 27, "IT": 27, "ES": 24}


def luhn_ok(digits: str) -> bool:
    doubled = sum((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)[int(d)] for d in digits[-2::-2])
    return (sum(map(int, digits[-1::-2])) + doubled) % 10 == 0


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
    total = sum(int(d) * (9 - i) for i, d in enumerate(digits[:9]))
    return len(digits) == 11 and digits[:9] > "001001998" and total % 101 % 100 == int(digits[9:])


def ru_account_ok(digits: str) -> bool:
    """20 digits opening like an account of a person or firm (its key needs the bank's BIK)."""
    return len(digits) == 20 and digits[:3] in RU_ACCOUNT_PREFIXES


def iban_ok(iban: str) -> bool:
    """ISO 13616: country letters, check digits and the rest; moved round, mod 97 is 1."""
    iban = iban.upper()
    if not (15 <= len(iban) <= 34 and iban[:2].isalpha() and iban[2:4].isdigit()
            and iban.isascii() and iban.isalnum()):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    return int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1


def phone_ok(d: str, lens: tuple[int, ...], context: str | None) -> bool:
    n = len(d)
    return ((n == 11 and d[0] in "78" and d[1] in "3489")  # +7 / 8, RU
            or (n == 12 and d.startswith("380") and d[3] != "0")  # +380, UA
            or (n == 10 and d[0] == "0" and d[1] in "3456789")  # 0XX, UA
            or (n == 11 and d.startswith("80") and d[2] in "3456789")  # 8 0XX, UA long distance
            or (n == 10 and d[0] == "9" and lens in ((3, 3, 2, 2), (3, 3, 4), (3, 7)))
            or (n == 10 and d[0] in "3489" and context == "phone"))


Check = Callable[[str, tuple[int, ...], str | None], bool]
CHECKS: dict[str, Check] = {
    "card": lambda d, lens, ctx: 13 <= len(d) <= 19 and d[0] in "23456" and luhn_ok(d),
    "phone": phone_ok,
    "snils": lambda d, lens, ctx: snils_ok(d),
    "inn": lambda d, lens, ctx: len(d) in (10, 12) and inn_ok(d),
    # a card's or phone's keyword says the 20 digits are something else
    "account": lambda d, lens, ctx: ctx in (None, "account", "iban") and ru_account_ok(d),
    # the unified policy's check digit is not published with certainty: a keyword must name it
    "oms": lambda d, lens, ctx: ctx == "oms" and len(d) == 16,
    # an IBAN said as numbers after its keyword: the letters are said apart ("UA", "ю эй") or
    # not heard, so the digits are checked as a Ukrainian IBAN's
    "iban": lambda d, lens, ctx: ctx == "iban" and iban_ok(SPOKEN_IBAN_COUNTRY + d),
}
SPOKEN_IBAN_COUNTRY = "UA"
