"""The SQL behind a customer's timeline: their calls and text contacts (one `calls` table,
told apart by ``contact_channel``), each with its customer utterances and alerts, shaped
into `domain.customers` records. Runs inside the store's read transaction."""

from __future__ import annotations

import json
import sqlite3

from sentiment_svc.domain.customers import (
    CurvePoint,
    CustomerTimeline,
    TimelineAlert,
    TimelineContact,
    outcome_of,
    unresolved_complaints,
)
from sentiment_svc.domain.records import StoredAlert
from sentiment_svc.storage.rows import stored_alert, stored_utterance

MOOD_DIGITS = 3


def read_timeline(
    db: sqlite3.Connection, customer_id: str, *, since: float | None, before: float | None,
    exclude: str | None, limit: int,
) -> CustomerTimeline:
    """`customer_id`'s contacts started in [since, before), newest first, at most `limit`;
    `exclude`: a call id left out (the contact now starting)."""
    where, params = ["customer_id = ?"], [customer_id]
    if since is not None:
        where.append("started_at >= ?")
        params.append(since)
    if before is not None:
        where.append("started_at < ?")
        params.append(before)
    if exclude is not None:
        where.append("call_id != ?")
        params.append(exclude)
    calls = db.execute(
        "SELECT call_id, operator_id, contact_channel, started_at, ended_at, status, summary"
        f" FROM calls WHERE {' AND '.join(where)} ORDER BY started_at DESC, call_id LIMIT ?",
        (*params, limit),
    ).fetchall()
    return CustomerTimeline(
        customer_id=customer_id, contacts=tuple(_contact(db, call) for call in calls)
    )


def _contact(db: sqlite3.Connection, call: sqlite3.Row) -> TimelineContact:
    call_id = call["call_id"]
    utterances = [stored_utterance(row) for row in db.execute(
        'SELECT seq, channel, "start", "end", lang, text, neg, neu, pos, categories,'
        " loudness_db, raised_voice FROM utterances WHERE call_id = ? ORDER BY seq",
        (call_id,),
    )]
    acks = db.execute(
        "SELECT k.alert_id, k.operator_id, k.outcome, k.at, k.seconds_to_ack"
        " FROM acks k JOIN alerts a USING (alert_id) WHERE a.call_id = ? ORDER BY k.id",
        (call_id,),
    ).fetchall()
    alerts = [stored_alert(row, acks) for row in db.execute(
        "SELECT * FROM alerts WHERE call_id = ? ORDER BY t, created_at", (call_id,)
    )]
    complaints, unresolved = unresolved_complaints(utterances, alerts)
    return TimelineContact(
        contact_id=call_id, channel=call["contact_channel"], operator_id=call["operator_id"],
        started_at=call["started_at"], ended_at=call["ended_at"], status=call["status"],
        sentiment_curve=tuple(
            CurvePoint(t=u.start, value=round(u.sentiment.pos - u.sentiment.neg, MOOD_DIGITS))
            for u in utterances if u.channel == "customer"
        ),
        complaints=complaints, unresolved=unresolved,
        outcome=outcome_of(complaints, unresolved),
        alerts=tuple(_alert(alert) for alert in alerts),
        summary=None if call["summary"] is None else json.loads(call["summary"]),
    )


def _alert(alert: StoredAlert) -> TimelineAlert:
    last = alert.acks[-1] if alert.acks else None
    return TimelineAlert(
        alert_id=alert.alert_id, t=alert.t, action=alert.action, severity=alert.severity,
        reason=alert.reason, categories=alert.categories,
        outcome=None if last is None else last.outcome,
        seconds_to_ack=None if last is None else last.seconds_to_ack,
    )
