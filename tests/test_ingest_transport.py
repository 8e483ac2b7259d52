"""The ingest socket's cheap per-message path: uvicorn's buffered websocket protocol over a
real loopback socket, and the per-connection idle watch."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvicorn
import uvloop
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from sentiment_svc.web.app import UVICORN_OPTIONS
from sentiment_svc.web.ingest import IdleWatch
from sentiment_svc.web.websocket_protocol import RECEIVE_HIGH_WATER, BufferedWebSocketProtocol
from tools.bench import free_port


async def _buffered_reading(messages: int) -> tuple[list[bytes], int, bool, bool]:
    """A real uvicorn server whose endpoint reads nothing until the client has sent
    everything: returns what it then read, how many messages were queued and whether the
    socket was being read at that moment and once the queue was drained."""
    release, finished = asyncio.Event(), asyncio.Event()
    received: list[bytes] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await release.wait()
        while len(received) < messages:
            received.append(await websocket.receive_bytes())
        await finished.wait()
        await websocket.close()

    port = free_port()
    config = uvicorn.Config(
        Starlette(routes=[WebSocketRoute("/ws", endpoint)]), host="127.0.0.1", port=port,
        log_level="warning", lifespan="off", **UVICORN_OPTIONS,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as client:
            for index in range(messages):
                await client.send(index.to_bytes(2, "big") * 160)
                await asyncio.sleep(0.005)  # separate reads on the server, as 20 ms frames
            await asyncio.sleep(0.2)
            (protocol,) = server.server_state.connections
            assert isinstance(protocol, BufferedWebSocketProtocol)
            queued, reading = protocol.queue.qsize(), protocol.transport.is_reading()
            release.set()
            while len(received) < messages:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            reading_after = protocol.transport.is_reading()
            finished.set()
            await client.wait_closed()
    finally:
        server.should_exit = True
        await serving
    return received, queued, reading, reading_after


def test_reading_pauses_only_at_the_high_water_mark_and_nothing_is_lost():
    # on uvloop, the loop the service runs on
    received, queued, reading, reading_after = uvloop.run(_buffered_reading(40))
    assert [int.from_bytes(m[:2], "big") for m in received] == list(range(40))
    # Backpressure still holds: a stalled reader stops the socket a few frames later...
    assert RECEIVE_HIGH_WATER <= queued < 40
    assert not reading
    # ...and reading resumes once the application has caught up.
    assert reading_after


def test_idle_watch_cancels_only_after_waiting_the_whole_timeout():
    timeout = 0.3

    async def receiver(watch_box: list[IdleWatch]) -> None:
        watch = IdleWatch(timeout)
        watch_box.append(watch)
        for _ in range(6):  # waits of 0.6 x the timeout, with busy time in between
            watch.waiting()
            await asyncio.sleep(timeout * 0.6)
            watch.received()
            await asyncio.sleep(timeout * 0.6)  # busy, not waiting: does not count
        watch.waiting()
        await asyncio.sleep(30)

    async def main() -> tuple[bool, float, bool]:
        box: list[IdleWatch] = []
        task = asyncio.create_task(receiver(box))
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - started
        box[0].stop()
        return task.cancelled(), elapsed, box[0].expired

    cancelled, elapsed, expired = asyncio.run(main())
    assert cancelled and expired
    busy_part = 6 * 2 * timeout * 0.6
    assert busy_part + timeout * 0.9 <= elapsed <= busy_part + timeout + 1.0
