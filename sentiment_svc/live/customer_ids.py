"""Caller phone numbers are personal data (152-FZ): a customer id that is a phone number is
never kept. It becomes a keyed hash, the same for the same number (so a returning caller is
still recognised), and a masked label for people (``+7 916 *** ** 42``). Any other id
(a CRM's customer number) is kept as it is."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = "customer-id.key"
_PHONE = re.compile(r"(?:tel:|sip:)?\+?[\d\s().-]{7,24}(?:@.*)?", re.IGNORECASE)
_NOT_DIGITS = re.compile(r"\D")
MIN_DIGITS, MAX_DIGITS = 7, 15  # E.164 numbers; shorter ones are extensions, not people


@dataclass(frozen=True)
class CustomerKey:
    id: str  # what is stored and matched
    label: str | None  # what people see: the masked number, or None for a plain id


class CustomerIds:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def for_data_dir(cls, data_dir: Path, secret: str | None = None) -> CustomerIds:
        """The configured secret, else one made once and kept beside the data (0600):
        instances that share customers must share the setting."""
        if secret:
            return cls(secret.encode("utf-8"))
        path = data_dir / KEY_FILE
        if not path.exists():
            path.write_text(secrets.token_hex(32), encoding="ascii")
            path.chmod(0o600)
        return cls(path.read_text(encoding="ascii").strip().encode("ascii"))

    def key(self, customer_id: str) -> CustomerKey:
        number = phone_digits(customer_id)
        if number is None:
            return CustomerKey(customer_id, None)
        digest = hmac.new(self._secret, number.encode("ascii"), hashlib.sha256).hexdigest()
        return CustomerKey(f"tel-{digest[:24]}", masked(number))


def phone_digits(value: str) -> str | None:
    """The number's digits in international form, or None if `value` is no phone number.
    A Russian trunk prefix 8 becomes the country code 7."""
    text = value.strip()
    if not _PHONE.fullmatch(text):
        return None
    digits = _NOT_DIGITS.sub("", text.split("@")[0])
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


def masked(digits: str) -> str:
    """``+7 916 *** ** 42``: the country and operator code and the last two digits."""
    if len(digits) == 11 and digits.startswith("7"):
        return f"+7 {digits[1:4]} *** ** {digits[-2:]}"
    if len(digits) == 12 and digits.startswith("380"):
        return f"+380 {digits[3:5]} *** ** {digits[-2:]}"
    return f"+{digits[:2]} *** {digits[-2:]}"
