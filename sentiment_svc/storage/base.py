"""The interface every call store implements: `db.CallStore` (SQLite, the embedded default)
and `postgres.PgCallStore` (PostgreSQL, shared by the instances of a cluster); `factory.
open_store` picks one by the settings.

Synchronous and typed: it takes the pipeline's values and returns `domain.records`. Async
code reaches it only through `storage.hop.StoreHop`, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sentiment_svc.domain.customers import CustomerTimeline
from sentiment_svc.domain.messages import CallSummary, Dtmf
from sentiment_svc.domain.records import CallDetail, CallOpened, CustomerPast, StoredCall
from sentiment_svc.domain.vocabulary import AckOutcome, CallStatus
from sentiment_svc.frames import Alert, UtteranceAnalysis
from sentiment_svc.storage.outbox import OutboxRow
from sentiment_svc.storage.recording_store import Recordings


class CallRepository(Protocol):
    recordings: Recordings  # the calls' audio, erased and purged with them

    def start_call(self, call: CallOpened) -> None: ...

    def add_utterance(self, call_id: str, utterance: UtteranceAnalysis) -> int: ...

    def add_alert(self, call_id: str, alert: Alert, *, created_at: float | None = None
                  ) -> str: ...

    def add_ack(self, call_id: str, alert_id: str, operator_id: str, outcome: AckOutcome,
                at: float, seconds_to_ack: float) -> bool: ...

    def add_dtmf(self, call_id: str, dtmf: Dtmf) -> None: ...

    def end_call(self, call_id: str, status: CallStatus, summary: CallSummary | None,
                 ended_at: float) -> None: ...

    def mark_unfinished_interrupted(self, now: float) -> list[str]: ...

    def mark_instance_interrupted(self, instance_id: str, now: float) -> list[str]: ...

    def live_instances(self) -> list[str]: ...

    def resume_call(self, call_id: str, instance_id: str, dead: str | None) -> bool: ...

    def get_call(self, call_id: str) -> CallDetail | None: ...

    def list_calls(self, *, since: float | None = None, until: float | None = None,
                   operator_id: str | None = None, has_alert: bool | None = None,
                   category: str | None = None, text: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[StoredCall]: ...

    def customer_history(self, customer_id: str, since: float, until: float | None = None
                         ) -> CustomerPast: ...

    def customer_timeline(self, customer_id: str, *, since: float | None = None,
                          before: float | None = None, exclude: str | None = None,
                          limit: int = 100) -> CustomerTimeline: ...

    def delete_call(self, call_id: str) -> bool: ...

    def delete_customer(self, customer_id: str) -> int: ...

    def purge(self, *, audio_before: float | None, calls_before: float | None
              ) -> dict[str, int]: ...

    # the CRM webhook outbox (`storage.outbox`): rows are written by the methods above
    def webhook_due(self, target: str, now: float, limit: int
                    ) -> tuple[list[OutboxRow], int]: ...

    def webhook_step_done(self, row_id: int, step: str, refs: Mapping[str, str]) -> None: ...

    def webhook_delivered(self, row_id: int) -> None: ...

    def webhook_failed(self, row_id: int, error: str, next_attempt_at: float) -> None: ...

    def webhook_pending(self) -> dict[str, int]: ...

    def close(self) -> None: ...
