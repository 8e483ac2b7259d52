"""The one place values become JSON (and JSON becomes values): for the web and the CLI.

Fields that are None are left out: a message about a file has no call id, an alert not
(yet) stored no alert id. The schemas say so: every such field has a default.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from sentiment_svc.domain.messages import ConsoleRequest, FeedMessage, Message
from sentiment_svc.domain.webhooks import WEBHOOK_EVENT

_FEED = TypeAdapter(FeedMessage)
_REQUEST = TypeAdapter(ConsoleRequest)


def to_jsonable(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json", exclude_none=True)


def to_json(value: BaseModel) -> str:
    return value.model_dump_json(exclude_none=True)


def parse_feed_message(text: str | bytes) -> Message:
    """A feed message as a client received it (tests and clients)."""
    return _FEED.validate_json(text)


class BadRequest(ValueError):
    """A console's message is not one the service takes; the text says why, in one line."""


def parse_console_request(text: str) -> Message:
    try:
        return _REQUEST.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "message"
        raise BadRequest(f"{place}: {first['msg']}") from None


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of what feeds send (``feed``), of what consoles send
    (``console``) and of the CRM webhooks' bodies (``webhooks``), as published under
    ``/v1/schemas``."""
    return {
        "feed": _FEED.json_schema(mode="serialization"),
        "console": _REQUEST.json_schema(mode="validation"),
        "webhooks": WEBHOOK_EVENT.json_schema(mode="serialization"),
    }


def schema_text(name: str) -> str:
    return json.dumps(schemas()[name], ensure_ascii=False)
