"""A real service on a loopback port, in a background thread, for the live tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from sentiment_svc.config import Settings
from sentiment_svc.web.app import UVICORN_OPTIONS, create_app
from sentiment_svc.web.auth import TokenRegistry
from sentiment_svc.web.platform_auth import PlatformCredentials


class Loopback:
    """Something serving HTTP and websockets on a loopback `port`."""

    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


NO_ADMISSION_BY_LOAD = {"max_backlog_s": None, "max_recognizer_load": None}


@dataclass
class LiveServer(Loopback):
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def start_server(data_dir: Path, tokens: TokenRegistry | None = None, *,
                 wait_ready: bool = True, platforms: PlatformCredentials | None = None,
                 **settings_overrides) -> LiveServer:
    # The tests stream calls faster than real time, many per server: admission by load would
    # learn a demand no live call has. It is tested on its own (test_admission,
    # test_cluster_live); a test may still set it.
    settings = Settings(data_dir=data_dir, **{**NO_ADMISSION_BY_LOAD, **settings_overrides})
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, tokens or TokenRegistry.load(None), platforms)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            **UVICORN_OPTIONS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)  # on uvloop, as served
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and server.servers):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    live = LiveServer(server, thread, port)
    if not wait_ready:
        return live
    deadline = time.monotonic() + 180
    while True:  # models load in the background; /readyz says when
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{live.http}/readyz", timeout=5).status_code == 200:
                return live
        if time.monotonic() > deadline:
            live.stop()
            raise RuntimeError("the service did not become ready")
        time.sleep(0.2)


@contextlib.contextmanager
def running(data_dir: Path, tokens: TokenRegistry | None = None) -> Iterator[LiveServer]:
    live = start_server(data_dir, tokens)
    try:
        yield live
    finally:
        live.stop()


# One token per role (and two operators), for the tests that sign in.
TOKENS = {
    "ingest": "ingest-token-0123456789",
    "op1": "operator-one-token-0123",
    "op2": "operator-two-token-0123",
    "supervisor": "supervisor-token-01234",
    "qa": "qa-token-0123456789abc",
}


def secured_registry() -> TokenRegistry:
    """`TOKENS` as a registry: ingest, operators op-1 and op-2, supervisor, qa."""
    return TokenRegistry.from_entries([
        {"role": "ingest", "token": TOKENS["ingest"]},
        {"role": "operator", "operator_id": "op-1", "token": TOKENS["op1"]},
        {"role": "operator", "operator_id": "op-2", "token": TOKENS["op2"]},
        {"role": "supervisor", "token": TOKENS["supervisor"]},
        {"role": "qa", "token": TOKENS["qa"]},
    ])

