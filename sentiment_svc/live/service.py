"""The running service: models and workers shared by all calls, the live-call registry,
storage and the event bus. The web layer (`sentiment_svc.web`) is a thin shell around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sentiment_svc.asr.scheduler import AsrScheduler
from sentiment_svc.config import Settings, usable_cores
from sentiment_svc.crm.config import WebhooksConfig
from sentiment_svc.crm.worker import Backoff, WebhookWorker
from sentiment_svc.domain.customers import CARD_DAYS, customer_card
from sentiment_svc.domain.messages import (
    AlertMessage,
    CallEnded,
    CallStarted,
    CallSummary,
    CustomerHistory,
    Message,
    UtteranceMessage,
)
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import CallStatus, Channel, ContactChannel, Protocol
from sentiment_svc.live.admission import Admission
from sentiment_svc.live.bus import Bus, EventBus
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.cluster import Cluster
from sentiment_svc.live.context import CallContext
from sentiment_svc.live.customer_ids import CustomerIds
from sentiment_svc.live.legs import CallLegs
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.live.recording import CallRecording, WriteGate
from sentiment_svc.live.redis_bus import RedisBus
from sentiment_svc.live.refusals import CallRejected, ServiceBusy
from sentiment_svc.live.replays import Replays, view_fields
from sentiment_svc.live.resume import restore_call
from sentiment_svc.live.scale_out import ScaleOut
from sentiment_svc.live.ticker import AudioTicker
from sentiment_svc.pipeline import Engines, load_replay_recognizer
from sentiment_svc.protocols.base import CallStart
from sentiment_svc.storage.errors import CallExistsError
from sentiment_svc.storage.factory import open_store
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.threads import name_this_thread, single_threaded_numerics

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0
CUSTOMER_MEMORY_S = 7 * 86400  # earlier calls of the same customer that shape a new one
CARD_HISTORY_LIMIT = 100  # earlier contacts read for the customer card (its repeat count)
LOADING = "loading models"  # what `unhealthy()` says until the models are in


def _named_pool(workers: int, name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, name, initializer=name_this_thread, initargs=(name,))


class Service(ScaleOut, Replays):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.instance_id = settings.instance_name
        self.bus: Bus = EventBus(on_drop=self.metrics.feed_dropped.inc)
        self.redis_bus: RedisBus | None = None
        self.cluster: Cluster | None = None
        if settings.redis_url:
            self._join_cluster(settings.redis_url)
        # CRM webhook targets: the store writes their outbox rows with the events
        webhooks = WebhooksConfig.load(settings.config_file)
        # SQLite, or PostgreSQL shared by a cluster
        self.store = open_store(settings, webhooks=webhooks.subscriptions())
        # how async code reaches the store (retrying while a shared database is unreachable)
        self.metrics.store_up.set(1)
        self.db = StoreHop(self.store, on_state=self.metrics.store_up.set)
        self.webhooks = WebhookWorker(
            webhooks, self.db, self.metrics,
            backoff=Backoff(settings.webhook_backoff_s, settings.webhook_backoff_max_s),
            timeout_s=settings.webhook_timeout_s, poll_s=settings.webhook_poll_s,
        )
        self.instance_id = settings.instance_name
        # Stored with each call where instances share the database; NULL embedded.
        clustered = bool(settings.database_url or settings.redis_url)
        self._stored_instance_id = self.instance_id if clustered else None
        self.customer_ids = CustomerIds.for_data_dir(settings.data_dir,
                                                     settings.customer_id_secret)
        if settings.database_url and not settings.customer_id_secret:
            log.warning(
                "SENTIMENT_CUSTOMER_ID_SECRET is not set: this instance hashes callers' numbers"
                " with its own key, so the other instances will not recognise its customers;"
                " give every instance on the database the same secret"
            )
        self.calls: dict[str, LiveCall] = {}
        self.legs = CallLegs(self)  # calls whose speakers arrive on two connections
        self._recordings: dict[str, CallRecording] = {}
        # call id -> the ingest principal that opened it, from admission to the call's end
        self._owners: dict[str, object] = {}
        self._texts: set[str] = set()  # of those, the text contacts (no audio, no limits)
        self.admission = Admission(settings.max_backlog_s, settings.max_recognizer_load)
        self.replays: dict[int, object] = {}  # replay number -> the principal watching it
        self._replay_numbers = itertools.count()
        cores = max(2, usable_cores())
        self.audio_executor = _named_pool(max(2, cores // 2), "audio")
        self.audio_ticker = AudioTicker(self.audio_executor)
        # Recordings are written here, in order, never in the audio step (live.recording).
        self.recording_executor = _named_pool(1, "recording")
        self._recording_gate = WriteGate()  # one store: one outage for all its recordings
        # Several calls' utterances are analysed at once so that their e5 passes combine.
        self.analysis_executor = _named_pool(4, "text")
        self.engines: Engines | None = None
        self.scheduler: AsrScheduler | None = None
        self.load_error: str | None = None
        if clustered:
            # the others' live calls are theirs: a dead one's are reaped by `Cluster`
            interrupted = self.store.mark_instance_interrupted(self.instance_id, time.time())
        else:
            interrupted = self.store.mark_unfinished_interrupted(time.time())
        self._acks: set[asyncio.Task[None]] = set()
        if interrupted:
            log.warning("marked %d calls interrupted by an earlier stop", len(interrupted))

    @property
    def ready(self) -> bool:
        return self.engines is not None

    def unhealthy(self) -> str | None:
        """Why the service cannot take calls now, or None: models still loading or failed,
        or recognition workers that have stopped (every call's finals would wait forever)."""
        if self.load_error is not None:
            return f"models failed to load: {self.load_error}"
        if not self.ready or self.scheduler is None:
            return LOADING
        alive, total = self.scheduler.workers_alive, self.scheduler.workers
        if alive < total:
            return f"{total - alive} of {total} ASR workers stopped"
        return None

    def _refuse_unless_healthy(self) -> None:
        problem = self.unhealthy()
        if problem == LOADING:
            raise ServiceBusy("the service is still loading its models; retry shortly")
        if problem is not None:  # a call taken now would never get its finals
            raise ServiceBusy(f"the service cannot take calls: {problem}")

    async def load_models(self) -> None:
        single_threaded_numerics()
        loop = asyncio.get_running_loop()
        # CTranslate2 starts its worker threads while loading: they inherit this name.
        with _named_pool(1, "asr") as loader:
            try:
                self.engines = await loop.run_in_executor(loader, Engines.load, self.settings)
            except Exception as error:
                self.load_error = str(error) or type(error).__name__
                raise
        self.scheduler = AsrScheduler(
            self.engines.recognizer, self.settings.asr_layout()[0], self.metrics.asr_done,
            on_batch=self.metrics.asr_batch_size.observe,
            on_skipped=self.metrics.decodes_skipped.inc,
            background_loader=functools.partial(load_replay_recognizer, self.settings),
        )
        cost = self.scheduler.cost
        self.metrics.asr_cost_rate.set_function(lambda: cost.rate)

    async def purge_expired(self, now: float | None = None) -> dict[str, int]:
        """Retention (152-FZ): recordings and transcripts past their configured age go."""
        now = time.time() if now is None else now
        settings = self.settings
        audio_days, call_days = settings.audio_retention_days, settings.transcript_retention_days
        deleted = await self.db(
            self.store.purge,
            audio_before=None if audio_days is None else now - audio_days * 86400,
            calls_before=None if call_days is None else now - call_days * 86400,
        )
        if any(deleted.values()):
            log.info("retention: deleted %(calls)d calls and %(recordings)d recordings", deleted)
        return deleted

    async def purge_forever(self) -> None:
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("retention purge failed; trying again later")
            await asyncio.sleep(PURGE_EVERY_S)

    def context(
        self,
        publish: Callable[[Message], None],
        *,
        stored: bool,
        send_alert: Callable[[AlertMessage], None] | None = None,
        record: Callable[[list[tuple[Channel, np.ndarray]]], None] | None = None,
        send_utterance: Callable[[UtteranceMessage], None] | None = None,
    ) -> CallContext:
        """What a call run by this service gets: its messages go to `publish`; a `stored`
        call also writes its rows (and, with `record`, its audio) and offers interim
        transcripts."""
        assert self.engines is not None and self.scheduler is not None
        return CallContext(
            engines=self.engines, asr=self.scheduler, ticker=self.audio_ticker,
            analysis_executor=self.analysis_executor, metrics=self.metrics, publish=publish,
            store=self.db if stored else None,
            partials_skipped=self._partials_skipped if stored else None,
            send_alert=send_alert, record=record, send_utterance=send_utterance,
        )

    def _partials_skipped(self) -> str | None:
        """Why no interim transcripts now: too many calls, or finals waiting."""
        if len(self.calls) > self.settings.partials_max_calls:
            return "calls"
        if self.scheduler is not None and self.scheduler.depth:
            return "asr_busy"
        return None

    async def open_call(
        self,
        start: CallStart,
        protocol: Protocol,
        send_alert: Callable[[AlertMessage], None] | None = None,
        owner: object = None,
        send_utterance: Callable[[UtteranceMessage], None] | None = None,
        *,
        contact_channel: ContactChannel = ContactChannel.PHONE,
        started_at: float | None = None,
    ) -> LiveCall:
        """`owner` (the ingest token's principal) is counted against `max_calls_per_token`;
        `send_alert` and `send_utterance` take the call's alerts and final utterances back
        to the telephony side. A text contact (`Protocol.TEXT`, `live.contacts`) is a call
        without audio: not recorded, and not counted against the limits on calls, which
        protect speech recognition."""
        self._refuse_unless_healthy()
        # A call holds its place (`_owners`) from here: opens that arrive together wait on
        # the store below, and each must see the others when it checks the limits.
        if start.call_id in self._owners:
            raise CallRejected(f"call {start.call_id} is already live")
        if protocol is not Protocol.TEXT:
            self._refuse_over_limits(owner)
        self._owners[start.call_id] = owner
        if protocol is Protocol.TEXT:
            self._texts.add(start.call_id)
        try:
            call, record = await self._admit(start, protocol, send_alert, send_utterance,
                                             contact_channel, started_at)
        except BaseException:
            self._owners.pop(start.call_id, None)  # its place is free again
            self._texts.discard(start.call_id)
            raise
        self.metrics.active_calls.inc()
        self.metrics.calls_total.labels(protocol).inc()
        self.bus.publish(CallStarted(**view_fields(call)))
        if record.customer_id and not call.offset_s:  # a resumed call has its state
            await self._recall_customer(call, record)
        return call

    def _refuse_over_limits(self, owner: object) -> None:
        calls = [other for cid, other in self._owners.items() if cid not in self._texts]
        if len(calls) + len(self.replays) >= self.settings.max_live_calls:
            raise ServiceBusy(
                f"the service is at its limit of {self.settings.max_live_calls} live calls"
            )
        refusal = self.overloaded()
        if refusal is not None:
            self.metrics.calls_refused.labels(refusal.reason).inc()
            raise ServiceBusy(f"{refusal.message}; retry on another instance")
        owned = sum(1 for other in calls if other == owner)
        if owner is not None and owned >= self.settings.max_calls_per_token:
            raise ServiceBusy(f"this token already has {owned} live calls (the limit)")

    async def _recall_customer(self, call: LiveCall, record: CallOpened) -> None:
        """A returning customer: the operator's card of their contacts of the last 30 days
        on every channel, and the escalation state seeded from the last 7 (a complaint
        raised in yesterday's chat counts as repeated on today's call)."""
        assert record.customer_id is not None
        timeline = await self.db(
            self.store.customer_timeline, record.customer_id,
            since=record.started_at - CARD_DAYS * 86400, exclude=record.call_id,
            limit=CARD_HISTORY_LIMIT,
        )
        if timeline.contacts:
            self.bus.publish(customer_card(
                timeline, call_id=record.call_id, operator_id=record.operator_id,
                channel=record.contact_channel, customer_label=record.customer_label,
            ))
        past = await self.db(
            self.store.customer_history, record.customer_id,
            record.started_at - CUSTOMER_MEMORY_S,
        )
        if past.previous_calls:
            call.pipeline.state.seed(past.categories, past.negative_calls)
            self.bus.publish(CustomerHistory(
                call_id=record.call_id, operator_id=record.operator_id,
                customer_id=record.customer_id, customer_label=record.customer_label,
                days=CUSTOMER_MEMORY_S // 86400,
                **past.model_dump(),
            ))

    async def _admit(
        self,
        start: CallStart,
        protocol: Protocol,
        send_alert: Callable[[AlertMessage], None] | None,
        send_utterance: Callable[[UtteranceMessage], None] | None = None,
        contact_channel: ContactChannel = ContactChannel.PHONE,
        started_at: float | None = None,
    ) -> tuple[LiveCall, CallOpened]:
        """Store, record and register a call whose place `open_call` has reserved."""
        customer = self.customer_ids.key(start.customer_id) if start.customer_id else None
        if customer is not None:  # a caller's number goes no further than this
            start = dataclasses.replace(start, customer_id=customer.id)
        layout = self._layout(start)
        record = CallOpened(
            call_id=start.call_id, operator_id=start.operator_id, customer_id=start.customer_id,
            customer_label=customer and customer.label, language=start.language,
            protocol=protocol, started_at=time.time() if started_at is None else started_at,
            sample_rate=start.sample_rate, channels=len(layout), contact_channel=contact_channel,
            instance_id=self._stored_instance_id,
        )
        resumed = None
        try:
            await self.db(self.store.start_call, record)
        except CallExistsError as error:
            resumed = await self._resume(record)
            if resumed is None:
                raise CallRejected(str(error)) from None
        except Exception as error:
            raise CallRejected(str(error)) from None
        record_audio = None
        if protocol is not Protocol.TEXT:
            try:
                writer = await self.db(self.store.recordings.open_writer, start.call_id,
                                       start.sample_rate, len(layout),
                                       resume=resumed is not None)
            except Exception:
                log.exception("call %s: its recording cannot be started", start.call_id)
                if resumed is None:
                    with contextlib.suppress(Exception):  # not left live in the store
                        await self.db(self.store.end_call, start.call_id, CallStatus.FAILED,
                                      None, time.time())
                raise CallRejected("the call's recording cannot be started; retry") from None
            recording = CallRecording(writer, layout, self.recording_executor, start.call_id,
                                      self._recording_gate)
            self._recordings[start.call_id] = recording
            record_audio = recording.add
        context = self.context(
            self.bus.publish, stored=True, send_alert=send_alert, record=record_audio,
            send_utterance=send_utterance,
        )
        call = LiveCall(start, protocol, context)
        if protocol is Protocol.TEXT:
            call.info.contact_channel = contact_channel
        if resumed is not None:
            restore_call(call, resumed, 0.0 if record_audio is None else writer.duration)
            record = record.model_copy(update={"started_at": resumed.started_at})
        self.calls[start.call_id] = call
        return call, record

    async def close_call(
        self, call: LiveCall, status: CallStatus = CallStatus.COMPLETED
    ) -> None:
        """Finalise: remaining audio processed, summary stored and published."""
        call_id = call.info.call_id
        summary: CallSummary | None = None
        try:
            summary = await call.finish()
        except Exception:
            log.exception("call %s failed while finishing", call_id)
            status = CallStatus.FAILED
        recording = self._recordings.pop(call_id, None)
        if recording is not None:
            await asyncio.wrap_future(recording.close())
        await self.db(self.store.end_call, call_id, status, summary, time.time())
        self.observe_load()  # before the call leaves the count
        self.calls.pop(call_id, None)
        self._owners.pop(call_id, None)
        self._texts.discard(call_id)
        self.metrics.active_calls.dec()
        self.bus.publish(CallEnded(**view_fields(call), status=status, summary=summary))

    @staticmethod
    def _layout(start: CallStart) -> list[Channel]:
        """The recording's channels: the call's speakers, customer first."""
        return start.speakers or [Channel.CUSTOMER]

    async def shutdown(self) -> None:
        for call in list(self.calls.values()):
            await self.close_call(call, "interrupted")
        if self.scheduler is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.scheduler.close)
        if self.cluster is not None and self.redis_bus is not None:
            await self.cluster.close()
            await self.redis_bus.close()
            await self.cluster.link.client.aclose()
        for executor in (self.audio_executor, self.analysis_executor, self.recording_executor):
            executor.shutdown(wait=True)
        self.db.close()
