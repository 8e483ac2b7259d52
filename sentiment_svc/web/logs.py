"""Access logs without secrets or personal data. Browsers cannot put headers on a websocket,
so consoles, replays and telephony platforms send their token as ``?token=…``, and erasure
names a customer (perhaps by phone number) in its path; uvicorn's request and websocket log
lines quote the whole URL. Query strings and customer ids are cut from those lines."""

from __future__ import annotations

import logging
import re

# The loggers uvicorn writes request lines ("GET /path?query") and websocket handshakes
# ('"WebSocket /path?query" [accepted]') to.
URL_LOGGERS = ("uvicorn.access", "uvicorn.error")
_CUSTOMER = re.compile(r"(/v1/customers/)[^/?]+")


class DropQueryStrings(logging.Filter):
    """Cuts ``?…`` and customer ids from every path-like argument (one that starts with
    ``/``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def _without_query(arg: object) -> object:
    if not isinstance(arg, str) or not arg.startswith("/"):
        return arg
    path, query, _ = arg.partition("?")
    return _CUSTOMER.sub(r"\1…", path) + ("?…" if query else "")


def drop_query_strings_from_url_logs() -> None:
    """Install the filter on uvicorn's loggers (once, however often it is called)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
            logger.addFilter(DropQueryStrings())
