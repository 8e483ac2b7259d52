"""A CRM for the webhook tests: a real HTTP server (`http.server`) on a loopback port in a
thread, recording every request and answering with a test's `respond` function. It can go
down (the port refuses connections) and come back on the same port. Also: contacts played
through the real store, as the live service writes them, and a webhook worker run beside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sentiment_svc.crm.config import WebhooksConfig
from sentiment_svc.crm.worker import Backoff, WebhookWorker
from sentiment_svc.domain.messages import CallSummary
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import (
    AckOutcome,
    Action,
    CallStatus,
    Channel,
    ContactChannel,
    Severity,
)
from sentiment_svc.frames import Alert, Sentiment, UtteranceAnalysis
from sentiment_svc.live.customer_ids import CustomerIds
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.db import CallStore
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.storage.postgres import PgCallStore

FAST = Backoff(base_s=0.2, max_s=1.0)  # retries within a second while the CRM is down
POLL_S = 0.05
CUSTOMER_IDS = CustomerIds(b"the-test-customer-id-key")


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Any]  # status, JSON-able body
Respond = Callable[[Received], Answer]


def ok(_: Received) -> Answer:
    return 200, {"ok": True}


class CrmServer:
    def __init__(self, respond: Respond = ok, port: int = 0) -> None:
        self.respond = respond
        self.received: list[Received] = []
        self.port = port
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> CrmServer:
        crm = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length", 0))
                request = Received("POST", self.path,
                                   {k.lower(): v for k, v in self.headers.items()},
                                   self.rfile.read(length), time.monotonic())
                with crm._lock:
                    status, body = crm.respond(request)
                    crm.received.append(request)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def targets(*entries: dict[str, Any]) -> WebhooksConfig:
    return WebhooksConfig.from_entries(list(entries), "test")


def open_store(where: Path | str, config: WebhooksConfig) -> CallRepository:
    """The store with `config`'s outbox: SQLite in a directory, or PostgreSQL at a URL."""
    if isinstance(where, str):
        return PgCallStore(where, webhooks=config.subscriptions())
    return CallStore(where, webhooks=config.subscriptions())


@contextlib.asynccontextmanager
async def delivering(config: WebhooksConfig, hop: StoreHop, metrics: Metrics | None = None,
                     backoff: Backoff = FAST) -> AsyncIterator[WebhookWorker]:
    """The worker running in this loop until the block ends."""
    worker = WebhookWorker(config, hop, metrics or Metrics(), backoff=backoff, timeout_s=5,
                           poll_s=POLL_S)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def opened(call_id: str, customer: str | None = "cust-1", operator: str = "op-1",
           started_at: float | None = None,
           channel: ContactChannel = ContactChannel.PHONE) -> CallOpened:
    """As `Service` opens a call: a caller's number becomes a keyed hash and a mask."""
    key = CUSTOMER_IDS.key(customer) if customer else None
    return CallOpened(call_id=call_id, operator_id=operator, customer_id=key and key.id,
                      customer_label=key and key.label, language="ru", protocol="native",
                      started_at=time.time() if started_at is None else started_at,
                      sample_rate=8000, channels=2, contact_channel=channel)


def said(channel: Channel, text: str, start: float) -> UtteranceAnalysis:
    return UtteranceAnalysis(channel=channel, start=start, end=start + 2.4, lang="ru",
                             text=text, sentiment=Sentiment(neg=0.8, neu=0.1, pos=0.1))


ALERT = Alert(t=4.4, action=Action.APOLOGY, severity=Severity.WARNING,
              reason="The customer is upset", evidence=("Мне опять не помогли",))


async def play_contact(hop: StoreHop, call_id: str, *, customer: str | None = "cust-1",
                       operator: str = "op-1",
                       channel: ContactChannel = ContactChannel.PHONE) -> str:
    """A whole call as the live service stores it: start, two utterances, an alert, the
    operator's answer, the end with its summary. Returns the alert id."""
    store = hop.store
    await hop(store.start_call, opened(call_id, customer, operator, channel=channel))
    await hop(store.add_utterance, call_id, said(Channel.CUSTOMER, "Мне опять не помогли", 2.0))
    alert_id = await hop(store.add_alert, call_id, ALERT)
    await hop(store.add_utterance, call_id, said(Channel.OPERATOR, "Простите, сейчас решим", 5.1))
    await hop(store.add_ack, call_id, alert_id, operator, AckOutcome.APOLOGISED,
              time.time(), 3.2)
    summary = CallSummary(duration=61.6, utterances=2, alerts=1, negative_share=0.5,
                          csat_estimate=2.4)
    await hop(store.end_call, call_id, CallStatus.COMPLETED, summary, time.time())
    return alert_id
