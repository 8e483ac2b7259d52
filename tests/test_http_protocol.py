"""The request-header deadline, on a real uvicorn server over a loopback socket: a half
header (or a header dripped a byte at a time) is cut off; whole requests, keep-alive and
websockets are untouched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sentiment_svc.web.app import UVICORN_OPTIONS
from sentiment_svc.web.http_protocol import with_header_timeout
from tools.bench import free_port

DEADLINE_S = 0.6


async def hello(request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


@asynccontextmanager
async def server() -> AsyncIterator[int]:
    port = free_port()
    app = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)])
    options = {**UVICORN_OPTIONS, "http": with_header_timeout(DEADLINE_S)}
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                            log_level="warning", lifespan="off", **options))
    serving = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        running.should_exit = True
        await serving


async def closed_after(port: int, chunks: list[bytes], gap_s: float) -> float | None:
    """Send `chunks` `gap_s` apart, then wait: seconds until the server closed, or None."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(gap_s)
        await asyncio.wait_for(reader.read(), 5 * DEADLINE_S)  # until the server closes
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - start


def test_half_a_header_is_cut_off() -> None:
    async def run() -> tuple[float | None, ...]:
        async with server() as port:
            silent = await closed_after(port, [], 0)
            half = await closed_after(port, [b"GET / HTTP/1.1\r\nHost: 127.0"], 0)
            drip = [bytes([byte]) for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"]
            dripped = await closed_after(port, drip, DEADLINE_S / 8)
            second_half = await closed_after(
                port, [b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET / HTTP/1.1\r\nHo"], 0)
            return silent, half, dripped, second_half

    for closed in asyncio.run(run()):
        assert closed is not None and closed < 3 * DEADLINE_S


def test_whole_requests_keep_alive_and_websockets_are_untouched() -> None:
    async def run() -> tuple[list[bytes], list[str]]:
        async with server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            replies = []
            for pause in (0, DEADLINE_S * 1.5):  # two requests on one keep-alive
                await asyncio.sleep(pause)  # connection, idle longer than the deadline between
                writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                await writer.drain()
                replies.append(await reader.readuntil(b"hello"))
            writer.close()
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as socket:
                echoed = []
                for index in range(3):
                    await asyncio.sleep(DEADLINE_S)
                    await socket.send(f"m{index}")
                    echoed.append(await socket.recv())
            return replies, echoed

    replies, echoed = asyncio.run(run())
    assert all(reply.startswith(b"HTTP/1.1 200") for reply in replies)
    assert echoed == ["m0", "m1", "m2"]
