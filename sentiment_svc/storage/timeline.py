"""A customer's timeline: their calls and text contacts (one `calls` table, told apart by
``contact_channel``), each with its customer utterances and alerts, shaped into
`domain.customers` records. `timeline_query` (the contacts' SQL, placeholders of either
database) and `timeline_contact` (the shaping) are shared by both stores; `read_timeline`
is SQLite's, run inside the store's read transaction (PostgreSQL's: `PgCallStore`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sentiment_svc.domain.customers import (
    CurvePoint,
    CustomerTimeline,
    TimelineAlert,
    TimelineContact,
    outcome_of,
    unresolved_complaints,
)
from sentiment_svc.domain.records import StoredAlert, StoredUtterance
from sentiment_svc.storage.rows import stored_alert, stored_utterance

MOOD_DIGITS = 3


def timeline_query(
    customer_id: str, *, since: float | None, before: float | None, exclude: str | None,
    limit: int, placeholder: str = "?", order_id: str = "call_id",
) -> tuple[str, list[Any]]:
    """The SELECT of `customer_id`'s contacts started in [since, before), newest first, at
    most `limit`; `exclude`: a call id left out (the contact now starting). `order_id`: the
    tie-break (PostgreSQL names SQLite's binary collation)."""
    where, params = [f"customer_id = {placeholder}"], [customer_id]
    for clause, value in (("started_at >=", since), ("started_at <", before),
                          ("call_id !=", exclude)):
        if value is not None:
            where.append(f"{clause} {placeholder}")
            params.append(value)
    sql = ("SELECT call_id, operator_id, contact_channel, started_at, ended_at, status, summary"
           f" FROM calls WHERE {' AND '.join(where)}"
           f" ORDER BY started_at DESC, {order_id} LIMIT {placeholder}")
    return sql, [*params, limit]


def read_timeline(
    db: sqlite3.Connection, customer_id: str, *, since: float | None, before: float | None,
    exclude: str | None, limit: int,
) -> CustomerTimeline:
    """SQLite's timeline (see `timeline_query`)."""
    sql, params = timeline_query(customer_id, since=since, before=before, exclude=exclude,
                                 limit=limit)
    contacts = []
    for call in db.execute(sql, params).fetchall():
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
        summary = None if call["summary"] is None else json.loads(call["summary"])
        contacts.append(timeline_contact(call, summary, utterances, alerts))
    return CustomerTimeline(customer_id=customer_id, contacts=tuple(contacts))


def timeline_contact(
    call: Mapping[str, Any], summary: Mapping[str, Any] | None,
    utterances: Sequence[StoredUtterance], alerts: Sequence[StoredAlert],
) -> TimelineContact:
    """One contact of the timeline from its `timeline_query` row (`summary` decoded), its
    utterances and its alerts (with their acks)."""
    complaints, unresolved = unresolved_complaints(utterances, alerts)
    return TimelineContact(
        contact_id=call["call_id"], channel=call["contact_channel"],
        operator_id=call["operator_id"], started_at=call["started_at"],
        ended_at=call["ended_at"], status=call["status"],
        sentiment_curve=tuple(
            CurvePoint(t=u.start, value=round(u.sentiment.pos - u.sentiment.neg, MOOD_DIGITS))
            for u in utterances if u.channel == "customer"
        ),
        complaints=complaints, unresolved=unresolved,
        outcome=outcome_of(complaints, unresolved),
        alerts=tuple(_alert(alert) for alert in alerts),
        summary=summary,
    )


def _alert(alert: StoredAlert) -> TimelineAlert:
    last = alert.acks[-1] if alert.acks else None
    return TimelineAlert(
        alert_id=alert.alert_id, t=alert.t, action=alert.action, severity=alert.severity,
        reason=alert.reason, categories=alert.categories,
        outcome=None if last is None else last.outcome,
        seconds_to_ack=None if last is None else last.seconds_to_ack,
    )
