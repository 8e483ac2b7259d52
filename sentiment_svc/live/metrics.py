"""Prometheus metrics of the live service (one registry per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sentiment_svc.asr.scheduler import Work

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._audio_total = 0.0
        self._busy_total = 0.0
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge("sentiment_active_calls", "Calls being ingested", registry=r)
        self.alerts_delivered = Counter(
            "sentiment_alerts_delivered",
            "Alerts the telephony platform confirmed it received, by protocol", ["protocol"],
            registry=r,
        )
        self.calls_total = Counter(
            "sentiment_calls", "Calls started, by protocol", ["protocol"], registry=r
        )
        self.utterance_latency = Histogram(
            "sentiment_utterance_latency_seconds",
            "End of an utterance in the audio to its final transcript being published",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.alert_latency = Histogram(
            "sentiment_alert_latency_seconds",
            "End of the triggering utterance in the audio to the alert being published",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.asr_queue_depth = Gauge(
            "sentiment_asr_queue_depth", "Utterances waiting for recognition", registry=r
        )
        self.asr_workers_alive = Gauge(
            "sentiment_asr_workers_alive",
            "Recognition worker threads running (fewer than configured: /readyz fails)",
            registry=r,
        )
        self.asr_audio_seconds = Counter(
            "sentiment_asr_audio_seconds", "Seconds of speech recognised (final, partial, replay)",
            ["kind"], registry=r,
        )
        self.asr_busy_seconds = Counter(
            "sentiment_asr_busy_seconds",
            "Worker seconds spent recognising (final, partial, replay)",
            ["kind"], registry=r,
        )
        self.asr_batch_size = Histogram(
            "sentiment_asr_batch_size", "Utterances recognised together in one pass",
            buckets=(1, 2, 3, 4, 6, 8), registry=r,
        )
        self.asr_real_time_factor = Gauge(
            "sentiment_asr_real_time_factor",
            "Worker seconds per second of speech recognised, since start", registry=r,
        )
        self.asr_cost_rate = Gauge(
            "sentiment_asr_cost_rate",
            "Worker seconds per unit of recognition work (3 s + the utterance's seconds), as"
            " the scheduler has learnt it from recent batches: how fast the machine runs now",
            registry=r,
        )
        self.early_finals = Counter(
            "sentiment_early_finals",
            "Utterances recognised as soon as their end was known: used, or wasted because"
            " the speaker went on", ["outcome"], registry=r,
        )
        self.decodes_skipped = Counter(
            "sentiment_asr_decodes_skipped",
            "Utterances encoded but not decoded: their recognition was no longer wanted (an"
            " early final whose speaker went on)", registry=r,
        )
        self.partials_skipped = Counter(
            "sentiment_partials_skipped",
            "Interim transcripts not made: the recogniser had a queue (asr_busy) or more calls"
            " were live than SENTIMENT_PARTIALS_MAX_CALLS (calls)", ["reason"], registry=r,
        )
        self.alerts_total = Counter(
            "sentiment_alerts", "Alerts raised", ["action", "severity"], registry=r
        )
        self.feed_dropped = Counter(
            "sentiment_feed_dropped_events", "Events dropped for slow feed readers", registry=r
        )
        self.webhooks_pending = Gauge(
            "sentiment_webhooks_pending", "CRM webhook events not yet delivered, by target",
            ["target"], registry=r,
        )
        self.webhook_failed_attempts = Counter(
            "sentiment_webhook_failed_attempts",
            "CRM webhook deliveries that failed and will be retried, by target", ["target"],
            registry=r,
        )
        self.webhooks_delivered = Counter(
            "sentiment_webhooks_delivered", "CRM webhook events delivered, by target",
            ["target"], registry=r,
        )
        self.asr_backlog = Gauge(
            "sentiment_asr_backlog_seconds",
            "Seconds the queued and running live recognitions need per worker (admission"
            " refuses new calls past SENTIMENT_MAX_BACKLOG_S)", registry=r,
        )
        self.calls_refused = Counter(
            "sentiment_calls_refused", "Calls refused at start for load (close code 1013)",
            ["reason"], registry=r,
        )
        self.store_up = Gauge(
            "sentiment_store_up", "1 while the call store answers, 0 while it cannot be"
            " reached (a shared PostgreSQL restarting or failing over; writes wait and retry)",
            registry=r,
        )
        self.redis_up = Gauge(
            "sentiment_redis_up", "1 while the Redis event bus is reachable, 0 while it is"
            " down (only with SENTIMENT_REDIS_URL)", registry=r,
        )
        self.bus_outbox = Gauge(
            "sentiment_bus_outbox", "Events waiting to be sent to Redis (it is down or slow)",
            registry=r,
        )
        self.bus_outbox_dropped = Counter(
            "sentiment_bus_outbox_dropped", "Events dropped because the outbox was full"
            " while Redis was down", registry=r,
        )
        self.acks_routed = Counter(
            "sentiment_acks_routed", "Console acknowledgements routed through Redis: sent"
            " to the instance running the call (out) or received for a call here (in)",
            ["direction"], registry=r,
        )
        self.protocol_errors = Counter(
            "sentiment_protocol_errors", "Ingest connections closed for bad input",
            ["protocol", "code"], registry=r,
        )

    def asr_done(self, audio_seconds: float, busy_seconds: float, work: Work) -> None:
        self.asr_audio_seconds.labels(work.value).inc(audio_seconds)
        self.asr_busy_seconds.labels(work.value).inc(busy_seconds)
        if work is Work.REPLAY:  # at the lowest priority its time is not the live workers'
            return
        self._audio_total += audio_seconds
        self._busy_total += busy_seconds
        if self._audio_total > 0:
            self.asr_real_time_factor.set(self._busy_total / self._audio_total)
