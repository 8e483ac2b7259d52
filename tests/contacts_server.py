"""The real service app on a loopback port, without models: for the text-contact tests.

Everything is the real thing (`create_app`, `Service`, storage, feeds, auth, the text
contacts) except the models: `Service.load_models` is replaced by one that installs the
`tests.standins` engines (the real policy, lexicon, sentiment head and masker; a zero e5
embedding) and recogniser. A text contact never reaches the recogniser.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.sync.client import connect

from sentiment_svc.config import Settings
from sentiment_svc.live.service import Service
from sentiment_svc.web.app import UVICORN_OPTIONS, create_app
from sentiment_svc.web.auth import TokenRegistry
from tests.standins import ScriptedRecogniser, model_free_engines

TOKENS = {
    "ingest": "ingest-token-0123456789",
    "op1": "operator-one-token-0123",
    "supervisor": "supervisor-token-012345",
    "qa": "qa-token-0123456789abcd",
}


def registry() -> TokenRegistry:
    return TokenRegistry.from_entries([
        {"role": "ingest", "token": TOKENS["ingest"]},
        {"role": "operator", "operator_id": "op-1", "token": TOKENS["op1"]},
        {"role": "supervisor", "token": TOKENS["supervisor"]},
        {"role": "qa", "token": TOKENS["qa"]},
    ])


async def _model_free_load(self: Service) -> None:
    self.engines = model_free_engines()
    self.scheduler = ScriptedRecogniser()  # type: ignore[assignment]


@dataclass
class ContactsServer:
    url: str
    data_dir: Path
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://")

    def client(self, who: str | None = "ingest") -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {TOKENS[who]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=20)

    def socket(self, path: str, who: str = "ingest"):
        return connect(f"{self.ws}{path}", open_timeout=10,
                       additional_headers={"Authorization": f"Bearer {TOKENS[who]}"})

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def contacts_server(data_dir: Path, **settings) -> Iterator[ContactsServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Service, "load_models", _model_free_load)
        app = create_app(Settings(data_dir=data_dir, **settings), registry())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                               log_level="warning", **UVICORN_OPTIONS))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not (server.started and server.servers):
            assert time.monotonic() < deadline and thread.is_alive(), "no server"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        live = ContactsServer(f"http://127.0.0.1:{port}", data_dir, server, thread)
        while httpx.get(f"{live.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.02)
        try:
            yield live
        finally:
            live.stop()


class Feed:
    """An operator's feed, read in a thread: every message it delivered, in order."""

    def __init__(self, server: ContactsServer, operator_id: str = "op-1") -> None:
        self.messages: list[dict] = []
        # entered as a context manager (websockets 17 warns otherwise); left in close()
        self._socket = server.socket(f"/v1/operators/{operator_id}/feed", "op1").__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                self.messages.append(json.loads(self._socket.recv()))

    def of(self, kind: str, call_id: str | None = None) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind
                and (call_id is None or m.get("call_id") == call_id)]

    def wait_for(self, kind: str, call_id: str | None = None, timeout_s: float = 10) -> dict:
        deadline = time.monotonic() + timeout_s
        while not self.of(kind, call_id):
            assert time.monotonic() < deadline, f"no {kind} on the feed: {self.messages}"
            time.sleep(0.02)
        return self.of(kind, call_id)[0]

    def close(self) -> None:
        self._socket.__exit__(None, None, None)
        self._thread.join(timeout=5)
