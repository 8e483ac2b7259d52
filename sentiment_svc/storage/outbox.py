"""The CRM webhook outbox of the call store: events written with what they describe.

`CallStore` mixes `WebhookOutbox` in. Each write that makes a webhook event (a contact
started, an alert, an acknowledgement, a contact ended, also an unfinished call ended at
start-up) calls one ``_outbox_*`` method inside its own transaction, which adds one
``webhook_outbox`` row per target subscribed to that event: the event and its webhook
commit or roll back together, so a stored event is never without its webhook and no
webhook describes something that was not stored.

The delivery worker (`sentiment_svc.crm.worker`, through `storage.hop`) reads each contact's
oldest row only (`webhook_due`): a contact's later event waits until its earlier one went.
A delivered row is deleted; a failed one keeps its place with a later ``next_attempt_at``.
Erasing a contact erases its undelivered webhooks and CRM references too.

`OutboxWriter` (the events and the SQL that reads them) is shared with the PostgreSQL
store (`pg_outbox.PgWebhookOutbox`): its statements use ``?`` placeholders and each store
runs them through its own `_rows`/`_many`; only the worker's side differs by database.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sentiment_svc.domain.messages import CallSummary
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import AckOutcome, CallStatus
from sentiment_svc.domain.webhooks import (
    AlertAcknowledgedEvent,
    AlertEvent,
    AlertOutcome,
    ContactEndedEvent,
    ContactStartedEvent,
    TranscriptLine,
    WebhookEvent,
    WebhookEventType,
)
from sentiment_svc.frames import Alert

MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class OutboxRow:
    """One event for one target, as the worker delivers it."""

    id: int
    target: str
    contact_id: str
    event_id: str
    event_type: WebhookEventType
    payload: str  # the event's JSON: the generic webhook's body, byte for byte
    attempts: int
    done_steps: frozenset[str]
    refs: Mapping[str, str]  # what the target answered earlier about this contact


class OutboxWriter:
    """Writes the outbox rows of each event; the store gives `_webhooks`, `_rows`, `_many`."""

    _webhooks: Mapping[str, frozenset[WebhookEventType]]  # target -> the events it takes

    def _rows(self, db: Any, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        """Run `sql` (``?`` placeholders) in `db`'s transaction; its rows as dicts."""
        raise NotImplementedError

    def _many(self, db: Any, sql: str, params: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _outbox_started(self, db: Any, call: CallOpened) -> None:
        if self._targets_for(WebhookEventType.CONTACT_STARTED):
            self._enqueue(db, ContactStartedEvent(
                **_new_event(), contact_id=call.call_id, operator_id=call.operator_id,
                customer_id=call.customer_id, customer_label=call.customer_label,
                started_at=call.started_at, language=call.language, protocol=call.protocol,
                channel=call.contact_channel,
            ))

    def _outbox_alert(self, db: Any, call_id: str, alert_id: str, alert: Alert) -> None:
        if self._targets_for(WebhookEventType.ALERT):
            self._enqueue(db, AlertEvent(
                **_new_event(), **self._contact(db, call_id), alert_id=alert_id, t=alert.t,
                action=alert.action, severity=alert.severity, reason=alert.reason,
                evidence=alert.evidence, categories=alert.categories,
            ))

    def _outbox_ack(self, db: Any, call_id: str, alert_id: str, operator_id: str,
                    outcome: AckOutcome, seconds_to_ack: float) -> None:
        if self._targets_for(WebhookEventType.ALERT_ACKNOWLEDGED):
            (row,) = self._rows(db, "SELECT action FROM alerts WHERE alert_id = ?", (alert_id,))
            self._enqueue(db, AlertAcknowledgedEvent(
                **_new_event(), **self._contact(db, call_id), alert_id=alert_id,
                action=row["action"], outcome=outcome, acked_by=operator_id,
                seconds_to_ack=seconds_to_ack,
            ))

    def _outbox_ended(self, db: Any, call_id: str, status: CallStatus,
                      summary: CallSummary | None, ended_at: float) -> None:
        if self._targets_for(WebhookEventType.CONTACT_ENDED):
            contact = self._contact(db, call_id)
            self._enqueue(db, ContactEndedEvent(
                **_new_event(), **contact, status=status, ended_at=ended_at,
                duration=round(summary.duration if summary is not None
                               else max(0.0, ended_at - contact["started_at"]), 3),
                summary=summary, alerts=self._alert_outcomes(db, call_id),
                transcript=tuple(TranscriptLine(**row) for row in self._rows(
                    db, 'SELECT channel, "start", "end", text FROM utterances'
                    " WHERE call_id = ? ORDER BY seq", (call_id,))),
            ))

    def _targets_for(self, event_type: WebhookEventType) -> list[str]:
        return [name for name, events in self._webhooks.items() if event_type in events]

    def _enqueue(self, db: Any, event: WebhookEvent) -> None:
        payload = event.model_dump_json()
        event_type = WebhookEventType(event.type)  # type: ignore[attr-defined]
        self._many(
            db,
            "INSERT INTO webhook_outbox (target, contact_id, event_id, event_type, payload,"
            " created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(target, event.contact_id, event.event_id, str(event_type), payload,
              event.occurred_at, event.occurred_at) for target in self._targets_for(event_type)],
        )

    def _erase_webhooks(self, db: Any, contact_ids: Iterable[str]) -> None:
        """Inside an erasure's transaction: the contacts' undelivered webhooks and refs."""
        ids = [(contact_id,) for contact_id in contact_ids]
        if ids:
            self._many(db, "DELETE FROM webhook_outbox WHERE contact_id = ?", ids)
            self._many(db, "DELETE FROM webhook_refs WHERE contact_id = ?", ids)

    def _contact(self, db: Any, call_id: str) -> dict[str, Any]:
        (row,) = self._rows(
            db, "SELECT call_id AS contact_id, operator_id, customer_id, customer_label,"
            " started_at, contact_channel AS channel FROM calls WHERE call_id = ?", (call_id,))
        return row

    def _alert_outcomes(self, db: Any, call_id: str) -> tuple[AlertOutcome, ...]:
        alerts = self._rows(
            db, "SELECT alert_id, t, action, severity, reason FROM alerts WHERE call_id = ?"
            " ORDER BY t, created_at", (call_id,))
        acks: dict[str, list[str]] = {}
        for row in self._rows(
            db, "SELECT k.alert_id, k.outcome FROM acks k JOIN alerts a USING (alert_id)"
            " WHERE a.call_id = ? ORDER BY k.id", (call_id,),
        ):
            acks.setdefault(row["alert_id"], []).append(row["outcome"])
        return tuple(AlertOutcome(**a, outcomes=tuple(acks.get(a["alert_id"], ())))
                     for a in alerts)


class WebhookOutbox(OutboxWriter):
    """The outbox half of `CallStore` (SQLite); `_tx` comes from the store."""

    _tx: Callable[..., contextlib.AbstractContextManager[sqlite3.Connection]]

    def _rows(self, db: Any, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(row) for row in db.execute(sql, params).fetchall()]

    def _many(self, db: Any, sql: str, params: list[tuple[Any, ...]]) -> None:
        db.executemany(sql, params)

    # -- the worker's side ------------------------------------------------------------------

    def webhook_due(self, target: str, now: float, limit: int) -> tuple[list[OutboxRow], int]:
        """Up to `limit` rows of `target` to send now: each the oldest undelivered row of its
        contact, due by `now`; and how many rows the target has pending in all."""
        with self._tx("DEFERRED") as db:
            rows = db.execute(
                "SELECT o.*, r.refs FROM webhook_outbox o"
                " JOIN (SELECT MIN(id) AS id FROM webhook_outbox WHERE target = ?"
                "       GROUP BY contact_id) h USING (id)"
                " LEFT JOIN webhook_refs r ON r.target = o.target AND r.contact_id = o.contact_id"
                " WHERE o.next_attempt_at <= ? ORDER BY o.id LIMIT ?",
                (target, now, limit),
            ).fetchall()
            (pending,) = db.execute(
                "SELECT COUNT(*) FROM webhook_outbox WHERE target = ?", (target,)
            ).fetchone()
        return [_row(row) for row in rows], int(pending)

    def webhook_step_done(self, row_id: int, step: str, refs: Mapping[str, str]) -> None:
        """One request of a row's event went through; keep what the CRM answered."""
        with self._tx() as db:
            row = db.execute(
                "SELECT target, contact_id, done_steps FROM webhook_outbox WHERE id = ?",
                (row_id,),
            ).fetchone()
            if row is None:
                return
            done = sorted({*json.loads(row["done_steps"]), step})
            db.execute("UPDATE webhook_outbox SET done_steps = ? WHERE id = ?",
                       (json.dumps(done), row_id))
            if refs:
                _merge_refs(db, row["target"], row["contact_id"], refs)

    def webhook_delivered(self, row_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM webhook_outbox WHERE id = ?", (row_id,))

    def webhook_failed(self, row_id: int, error: str, next_attempt_at: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?",
                (error[:MAX_ERROR_CHARS], next_attempt_at, row_id),
            )

    def webhook_pending(self) -> dict[str, int]:
        """Undelivered rows by target (targets no longer configured included)."""
        with self._tx("DEFERRED") as db:
            rows = db.execute(
                "SELECT target, COUNT(*) FROM webhook_outbox GROUP BY target"
            ).fetchall()
        return {target: count for target, count in rows}


def subscriptions(targets: Mapping[str, Iterable[str]] | None
                  ) -> dict[str, frozenset[WebhookEventType]]:
    return {name: frozenset(WebhookEventType(e) for e in events)
            for name, events in (targets or {}).items()}


def _new_event() -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "occurred_at": time.time()}


def _merge_refs(db: sqlite3.Connection, target: str, contact_id: str,
                refs: Mapping[str, str]) -> None:
    row = db.execute("SELECT refs FROM webhook_refs WHERE target = ? AND contact_id = ?",
                     (target, contact_id)).fetchone()
    merged = {**(json.loads(row[0]) if row else {}), **refs}
    db.execute(
        "INSERT INTO webhook_refs (target, contact_id, refs) VALUES (?, ?, ?)"
        " ON CONFLICT (target, contact_id) DO UPDATE SET refs = excluded.refs",
        (target, contact_id, json.dumps(merged, ensure_ascii=False)),
    )


def _row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"], target=row["target"], contact_id=row["contact_id"],
        event_id=row["event_id"], event_type=WebhookEventType(row["event_type"]),
        payload=row["payload"], attempts=row["attempts"],
        done_steps=frozenset(json.loads(row["done_steps"])),
        refs=json.loads(row["refs"]) if row["refs"] else {},
    )

