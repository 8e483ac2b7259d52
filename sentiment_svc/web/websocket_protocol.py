"""uvicorn's websocket protocol with a deeper receive buffer, for 20 ms audio frames.

uvicorn (0.54, `websockets-sansio`) stops reading the socket after every message until the
application has taken it, then starts again: two `epoll_ctl` system calls and their Python
around each 20 ms telephony frame, about a seventh of the event loop's work per message
(BENCHMARKS.md). This subclass lets up to `RECEIVE_HIGH_WATER` messages wait before it
pauses reading, so a slow call still pushes back on its sender, a bounded number of frames
later. It touches uvicorn's private state (`read_paused`, `queue`, `transport`), so the
version is pinned and `tests/test_ingest_transport.py` checks the behaviour.

It also marks the handshake done once a denial response (an upgrade refused with an HTTP
status, as AudioHook credentials are) is on the wire: uvicorn 0.54 does not, and logs
"ASGI callable returned without completing handshake" at ERROR for every refusal (uvicorn
pull request 3138 makes the same change upstream).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

RECEIVE_HIGH_WATER = 8  # messages waiting for the application before reading pauses


class BufferedWebSocketProtocol(WebSocketsSansIOProtocol):
    def send_receive_event_to_app(self) -> None:
        # uvicorn pauses reading after queueing a message unless `read_paused` is set, and
        # `receive()` resumes it once the queue is empty (a no-op on a socket still read).
        # So: claim "paused" while the queue is short, and let uvicorn pause for real at the
        # high-water mark or when the socket really is paused.
        self.read_paused = (
            self.queue.qsize() < RECEIVE_HIGH_WATER - 1 or not self.transport.is_reading()
        )
        super().send_receive_event_to_app()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            self.handshake_complete = True  # refused with a response: nothing left to do
