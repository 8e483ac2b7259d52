"""The background delivery of CRM webhooks: the store's outbox (`storage.outbox`) to each
configured target, over HTTP (httpx, async), reached only through `storage.hop`.

One loop per target. Each round takes the oldest undelivered event of up to `BATCH`
contacts that are due, and sends them side by side (a contact's events one after another:
its next event is not read before this one is delivered, so they arrive in order). An event
is deleted from the outbox only after its target answered success: a crash, a restart or a
CRM that is down loses nothing, and a request whose answer was lost is sent again with the
same ``Idempotency-Key`` (at least once). A failure waits `Backoff`: exponential, capped,
with jitter (and at least a ``Retry-After`` the CRM asked for, up to the cap), and is retried
for as long as it takes. Each failure is logged on one line, naming the target, event and
contact, never a URL or secret; httpx's own request log (which prints URLs, and a Bitrix24
webhook URL holds its code) is kept below INFO.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import httpx

from sentiment_svc.crm.adapters import for_target
from sentiment_svc.crm.adapters.base import ONLY_STEP, Adapter, DeliveryError
from sentiment_svc.crm.config import WebhooksConfig
from sentiment_svc.crm.signing import EVENT_HEADER, IDEMPOTENCY_HEADER, signed_headers
from sentiment_svc.domain.webhooks import WEBHOOK_EVENT
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.storage.outbox import OutboxRow

log = logging.getLogger(__name__)
for _chatty in ("httpx", "httpcore"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)

BATCH = 16  # contacts delivered side by side per target
USER_AGENT = "sentiment-svc-webhooks"


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_s: float

    def delay(self, failures: int, rng: random.Random) -> float:
        """The wait after the `failures`-th failure in a row (1, 2, ...): base * 2^(n-1),
        capped, then jittered down by up to half (so retries of many contacts spread out)."""
        ceiling = min(self.max_s, self.base_s * 2 ** min(failures - 1, 30))
        return ceiling * (0.5 + 0.5 * rng.random())


class WebhookWorker:
    def __init__(self, config: WebhooksConfig, hop: StoreHop, metrics: Metrics, *,
                 backoff: Backoff, timeout_s: float, poll_s: float) -> None:
        self.config = config
        self.hop = hop
        self.metrics = metrics
        self.backoff = backoff
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._rng = random.Random()

    async def run(self) -> None:
        """Deliver until cancelled."""
        if not self.config.targets:
            return
        configured = {target.name for target in self.config.targets}
        for name, count in (await self.hop(self.hop.store.webhook_pending)).items():
            if name not in configured:
                log.warning("%d webhooks wait for target %s, which is no longer configured;"
                            " they go once it is again", count, name)
        timeout = httpx.Timeout(self.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                     headers={"User-Agent": USER_AGENT}) as client:
            await asyncio.gather(*(self._serve(client, for_target(target))
                                   for target in self.config.targets))

    async def _serve(self, client: httpx.AsyncClient, adapter: Adapter) -> None:
        name = adapter.target.name
        store = self.hop.store
        while True:
            try:
                rows, pending = await self.hop(store.webhook_due, name, time.time(), BATCH)
            except Exception:
                log.exception("webhooks to %s: cannot read the outbox; trying again", name)
                await asyncio.sleep(self.poll_s)
                continue
            self.metrics.webhooks_pending.labels(name).set(pending)
            if not rows:
                await asyncio.sleep(self.poll_s)
                continue
            await asyncio.gather(*(self._deliver(client, adapter, row) for row in rows))

    async def _deliver(self, client: httpx.AsyncClient, adapter: Adapter, row: OutboxRow) -> None:
        target, store = adapter.target, self.hop.store
        done, refs = set(row.done_steps), dict(row.refs)
        retry_after = 0.0
        try:
            event = WEBHOOK_EVENT.validate_json(row.payload)
            while (request := adapter.next_request(event, row.payload, refs,
                                                   frozenset(done))) is not None:
                headers = {
                    **request.headers,
                    IDEMPOTENCY_HEADER: row.event_id if request.step == ONLY_STEP
                    else f"{row.event_id}.{request.step}",
                    EVENT_HEADER: str(row.event_type),
                }
                if target.secret is not None:
                    headers.update(signed_headers(target.secret.get_secret_value(),
                                                  request.body))
                response = await client.request(request.method, request.url,
                                                content=request.body, headers=headers)
                retry_after = _retry_after(response)
                learned = adapter.learn(request, response.status_code, response.content)
                refs.update(learned)
                done.add(request.step)
                await self.hop(store.webhook_step_done, row.id, request.step, learned)
            await self.hop(store.webhook_delivered, row.id)
        except asyncio.CancelledError:
            raise  # stopping: the row stays and goes at the next start
        except Exception as error:
            await self._failed(adapter, row, error, retry_after)
            return
        self.metrics.webhooks_delivered.labels(target.name).inc()
        if row.attempts:
            log.info("webhook to %s: %s %s of contact %s delivered after %d failed attempts",
                     target.name, row.event_type, row.event_id, row.contact_id, row.attempts)

    async def _failed(self, adapter: Adapter, row: OutboxRow, error: Exception,
                      retry_after: float) -> None:
        failures = row.attempts + 1
        delay = self.backoff.delay(failures, self._rng)
        delay = max(delay, min(retry_after, self.backoff.max_s))
        reason = adapter.describe(_reason(error))
        self.metrics.webhook_failed_attempts.labels(adapter.target.name).inc()
        log.warning("webhook to %s failed: %s %s of contact %s, attempt %d: %s;"
                    " retrying in %.1f s", adapter.target.name, row.event_type, row.event_id,
                    row.contact_id, failures, reason, delay)
        try:
            await self.hop(self.hop.store.webhook_failed, row.id, reason, time.time() + delay)
        except Exception:
            log.exception("webhook to %s: cannot record the failure; the event is retried",
                          adapter.target.name)


def _reason(error: Exception) -> str:
    if isinstance(error, DeliveryError):
        return str(error)
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else 0.0
