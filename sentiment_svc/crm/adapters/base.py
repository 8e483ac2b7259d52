"""What every CRM adapter is: sans-I/O, it turns one webhook event into the HTTP requests
its CRM takes, one at a time, and reads what each answer tells it.

An event may take several requests (Bitrix24: finish the call, attach the transcript, add
a comment). Each has a `Request.step` name: once it went through, the worker stores the
name with the row, so a retry resumes after it (each request is sent at least once, a done
one is not sent again), and `learn` keeps what the answer said (Bitrix24's CALL_ID) for the
contact's later events. `next_request` returns None when the event needs nothing more.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sentiment_svc.domain.webhooks import AnyWebhookEvent

JSON_TYPE = "application/json"
ONLY_STEP = "deliver"  # the step of an event sent in one request: its key is the event id


class DeliveryError(Exception):
    """The CRM answered, but not with success; the message says what (never a secret)."""


@dataclass(frozen=True)
class Request:
    step: str  # unique within the event
    method: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Adapter(ABC):
    kind: ClassVar[str]

    def __init__(self, target: Any) -> None:
        self.target = target
        self.url = target.url.get_secret_value()

    @abstractmethod
    def next_request(self, event: AnyWebhookEvent, payload: str, refs: Mapping[str, str],
                     done: frozenset[str]) -> Request | None:
        """The event's next request not in `done`, or None: it is delivered. `payload` is
        the event's stored JSON, `refs` what earlier answers about its contact said."""

    def learn(self, request: Request, status: int, body: bytes) -> dict[str, str]:
        """Raise `DeliveryError` unless `status` (and `body`) mean success; return what to
        remember about the contact."""
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")
        return {}

    def describe(self, text: str) -> str:
        """`text` with this target's secrets taken out, for a log line."""
        for secret in (self.url, *self.secrets()):
            if secret:
                text = text.replace(secret, "<secret>")
        return text

    def secrets(self) -> tuple[str, ...]:
        return ()


def json_body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
