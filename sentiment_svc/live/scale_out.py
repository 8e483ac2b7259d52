"""The service's part in a cluster (``SENTIMENT_REDIS_URL``, README "Redis"): joining it
(the Redis bus and the heartbeats of `live.cluster`), its load as a balancer sees it and
admission by recognition backlog, acknowledgements routed to the instance running the
call, and taking over a call whose instance died (`live.resume`). Mixed into `Service`,
whose registry, store and bus it uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sentiment_svc.domain.messages import AckRequest, AlertAcked, CallView
from sentiment_svc.domain.records import CallDetail, CallOpened
from sentiment_svc.domain.vocabulary import AckOutcome, AckSource, CallStatus
from sentiment_svc.live.admission import Admission, Refusal
from sentiment_svc.live.bus import Bus
from sentiment_svc.live.cluster import Cluster
from sentiment_svc.live.redis_bus import RedisBus, RedisLink, RoutedAck, connect

if TYPE_CHECKING:
    from sentiment_svc.asr.scheduler import AsrScheduler
    from sentiment_svc.config import Settings
    from sentiment_svc.live.call import LiveCall
    from sentiment_svc.live.metrics import Metrics
    from sentiment_svc.storage.db import CallStore
    from sentiment_svc.storage.hop import StoreHop

log = logging.getLogger(__name__)


class ScaleOut:
    settings: Settings
    metrics: Metrics
    instance_id: str
    store: CallStore
    db: StoreHop
    bus: Bus
    calls: dict[str, LiveCall]
    replays: dict[int, object]
    scheduler: AsrScheduler | None
    redis_bus: RedisBus | None
    cluster: Cluster | None
    _owners: dict[str, object]
    _texts: set[str]
    admission: Admission
    _acks: set[asyncio.Task[None]]

    def _join_cluster(self, url: str) -> None:
        link = RedisLink(connect(url), self.metrics)
        self.redis_bus = RedisBus(link, self.instance_id, self.metrics, on_ack=self._routed_ack)
        self.bus = self.redis_bus
        self.cluster = Cluster(
            link, self.redis_bus, self.instance_id, load=self.load,
            local_views=lambda: [call.view() for call in list(self.calls.values())],
            live_instances=lambda: self.db(self.store.live_instances),
            mark_interrupted=lambda dead: self.db(
                self.store.mark_instance_interrupted, dead, time.time()),
        )

    def start(self) -> None:
        """Background work that needs the event loop: the Redis bus and heartbeats."""
        if self.redis_bus is not None and self.cluster is not None:
            self.redis_bus.start()
            self.cluster.start()

    def live_views(self) -> list[CallView]:
        """Every live call's wall state: this instance's, and in a cluster the others'."""
        views = [call.view() for call in list(self.calls.values())]
        if self.cluster is not None:
            views += self.cluster.remote_views()
        return views

    @property
    def backlog_s(self) -> float:
        return 0.0 if self.scheduler is None else self.scheduler.backlog_s

    def load(self) -> dict[str, float]:
        """What a balancer needs to know (`/readyz`, the heartbeat), with the share of the
        recogniser's time the live calls take (`live.admission`)."""
        load = {"live_calls": self._audio_calls, "text_contacts": len(self._texts),
                "replays": len(self.replays), "backlog_s": round(self.backlog_s, 2)}
        if self.scheduler is not None:
            load["recognizer_load"] = round(self.admission.projected_load(
                self._audio_calls, self.scheduler.workers_alive, self.scheduler.cost.rate), 3)
        return load

    @property
    def _audio_calls(self) -> int:
        """Live calls that use the recogniser (text contacts do not)."""
        return len(self._owners) - len(self._texts)

    def overloaded(self) -> Refusal | None:
        """Why a call admitted now would not be served in time, or None (`live.admission`)."""
        if self.scheduler is None:
            return None
        live = self.observe_load()
        return self.admission.refusal(live, self.scheduler.backlog_s,
                                      self.scheduler.workers_alive, self.scheduler.cost.rate)

    def observe_load(self) -> int:
        """Let admission learn from the recogniser's work since it last looked (call it just
        before a call starts or ends); returns the calls live now."""
        live = self._audio_calls
        if self.scheduler is not None:
            self.admission.observe(time.monotonic(), live, self.scheduler.live_busy_s)
        return live

    async def _resume(self, record: CallOpened) -> CallDetail | None:
        """A call id the store has: in a cluster, the same call reconnected after its
        instance died (or its connection dropped): taken over here, its stored state
        restored. None if it is not resumable (another operator's, finished, or live on
        an instance that is alive)."""
        if self.cluster is None or not self.cluster.link.up:
            return None  # without Redis, whether its instance lives cannot be known
        stored = await self.db(self.store.get_call, record.call_id)
        if stored is None or stored.operator_id != record.operator_id:
            return None
        dead = stored.instance_id
        if stored.status == CallStatus.LIVE and (
            dead is None or dead == self.instance_id or await self.cluster.is_alive(dead)
        ):
            return None
        if not await self.db(self.store.resume_call, record.call_id, self.instance_id, dead):
            return None
        log.warning("call %s resumed here (it ran on %s)", record.call_id, dead)
        return stored

    async def acknowledge(
        self, call_id: str, alert_id: str, operator_id: str, outcome: AckOutcome
    ) -> None:
        """An operator's click on an alert (any instance's console): stored and shown by
        the instance running the call, which also counts the alert as answered."""
        if call_id not in self.calls and self.cluster is not None:
            owner = self.cluster.owner_of(call_id)
            if owner is not None and self.redis_bus is not None:
                request = AckRequest(type="ack", call_id=call_id, alert_id=alert_id,
                                     outcome=outcome)
                self.redis_bus.send_ack(owner, RoutedAck(request, operator_id))
                self.metrics.acks_routed.labels("out").inc()
                return
        await self._acknowledge_here(call_id, alert_id, operator_id, outcome)

    async def _acknowledge_here(
        self, call_id: str, alert_id: str, operator_id: str, outcome: AckOutcome
    ) -> None:
        detail = await self.db(self.store.get_call, call_id)
        alert = detail and next((a for a in detail.alerts if a.alert_id == alert_id), None)
        if alert is None:
            return
        now = time.time()
        stored = await self.db(
            self.store.add_ack, call_id, alert_id, operator_id, outcome, now,
            max(0.0, now - alert.created_at),
        )
        call = self.calls.get(call_id)
        if call is not None:
            call.acknowledged(alert_id)
        if stored:  # the same answer again was stored and shown the first time
            self.bus.publish(AlertAcked(
                call_id=call_id, operator_id=operator_id, alert_id=alert_id,
                outcome=outcome, source=AckSource.CONSOLE,
            ))

    def _routed_ack(self, ack: RoutedAck) -> None:
        """Another instance's console acknowledged an alert of a call running here."""
        self.metrics.acks_routed.labels("in").inc()
        request = ack.request
        task = asyncio.create_task(self._acknowledge_here(
            request.call_id, request.alert_id, ack.operator_id, request.outcome))
        self._acks.add(task)
        task.add_done_callback(self._ack_done)

    def _ack_done(self, task: asyncio.Task[None]) -> None:
        self._acks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a routed acknowledgement failed: %s", task.exception())
