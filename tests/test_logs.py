"""No secret in the service's log: tokens sent as ``?token=`` (consoles, replays, telephony)
are cut from uvicorn's request and websocket lines, on a real `sentiment-svc serve`."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from sentiment_svc.web.logs import DropQueryStrings
from tools.bench import _wait_ready, free_port

SUPERVISOR_TOKEN = "supervisor-secret-7f3a9c1e5b"
QA_TOKEN = "qa-secret-0d2e4f6a8b"
WRONG_TOKEN = "not-a-token-secret-91c3"


def test_the_filter_cuts_query_strings_from_path_arguments_only():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/calls?token=abc&q=x", "1.1", 200), None,
    )
    assert DropQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /v1/calls?… HTTP/1.1" 200'


@pytest.mark.models
def test_a_served_day_of_tokens_in_urls_leaves_none_in_the_log(tmp_path):
    config = tmp_path / "tokens.yaml"
    config.write_text(
        "tokens:\n"
        f"  - {{role: supervisor, token: {SUPERVISOR_TOKEN}}}\n"
        f"  - {{role: qa, token: {QA_TOKEN}}}\n",
        encoding="utf-8",
    )
    port = free_port()
    log_file = tmp_path / "serve.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
             "--data-dir", str(tmp_path / "data"), "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(port, server)
            assert httpx.get(f"{base}/v1/calls", params={"token": QA_TOKEN}).status_code == 401
            assert httpx.get(f"{base}/v1/calls", headers={
                "Authorization": f"Bearer {QA_TOKEN}"}).status_code == 200

            async def sockets() -> None:
                url = f"ws://127.0.0.1:{port}/v1/supervisor/feed?token={SUPERVISOR_TOKEN}"
                async with websockets.connect(url):
                    pass
                async with websockets.connect(url.replace(SUPERVISOR_TOKEN, WRONG_TOKEN)) as ws:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await ws.recv()
                assert closed.value.rcvd.code == 4401

            asyncio.run(sockets())
            time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=60)
    text = log_file.read_text(encoding="utf-8")
    # The lines are there, with the path, and without what followed the '?'.
    assert '"GET /v1/calls?… HTTP/1.1" 401' in text, text
    assert '"WebSocket /v1/supervisor/feed?…"' in text, text
    for secret in (SUPERVISOR_TOKEN, QA_TOKEN, WRONG_TOKEN):
        assert secret not in text
