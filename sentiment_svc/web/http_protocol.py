"""uvicorn's HTTP/1.1 protocol with a deadline for the request header.

uvicorn closes idle keep-alive connections, but a client that sends part of a request header
and then nothing (or a byte now and then, "slowloris") keeps its connection, and a file
descriptor, forever: `data_received` disarms the keep-alive timer and nothing arms another.
This subclass gives each request header `header_timeout_s` from its first byte (or from the
connection's start) to arrive whole; otherwise the connection is closed. A request whose
header has arrived, a response being sent and an upgraded websocket are not affected.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
DEFAULT_HEADER_TIMEOUT_S = 10.0


class HeaderTimeoutProtocol(H11Protocol):
    header_timeout_s = DEFAULT_HEADER_TIMEOUT_S
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_header():
            self._arm_header_deadline()  # part of a header: the clock runs from its first byte
        else:
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        pending, _ = self.conn.trailing_data  # the start of a pipelined next request
        if pending and self._awaiting_header():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _awaiting_header(self) -> bool:
        """No request is being served, and the connection is still ours (not upgraded)."""
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return False
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(
                self.header_timeout_s, self._header_timed_out)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timed_out(self) -> None:
        self._header_deadline = None
        if self._awaiting_header():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.info("closed the connection from %s: no whole request header in %g s",
                     client, self.header_timeout_s)
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for uvicorn's ``http=`` option with this deadline."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": seconds})
