"""Access logs without secrets. Browsers cannot put headers on a websocket, so consoles,
replays and telephony platforms send their token as ``?token=…``; uvicorn's request and
websocket log lines quote the whole URL. Every query string is cut from those lines."""

from __future__ import annotations

import logging

# The loggers uvicorn writes request lines ("GET /path?query") and websocket handshakes
# ('"WebSocket /path?query" [accepted]') to.
URL_LOGGERS = ("uvicorn.access", "uvicorn.error")


class DropQueryStrings(logging.Filter):
    """Cuts ``?…`` from every path-like argument (one that starts with ``/``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def _without_query(arg: object) -> object:
    if isinstance(arg, str) and arg.startswith("/") and "?" in arg:
        return arg.partition("?")[0] + "?…"
    return arg


def drop_query_strings_from_url_logs() -> None:
    """Install the filter on uvicorn's loggers (once, however often it is called)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
            logger.addFilter(DropQueryStrings())
