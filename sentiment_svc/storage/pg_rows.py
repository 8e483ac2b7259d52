"""The SQL `PgCallStore` reads calls with, its list filters, and how its rows (dicts, jsonb
already decoded) become records. The PostgreSQL twin of `rows` (same columns, same rules);
the customer's timeline shaped by `timeline`'s shared code."""

from __future__ import annotations

import json
from typing import Any

from psycopg import Cursor

from sentiment_svc.domain.customers import CustomerTimeline
from sentiment_svc.domain.records import StoredAck, StoredAlert, StoredUtterance
from sentiment_svc.storage.rows import stored_utterance
from sentiment_svc.storage.timeline import timeline_contact, timeline_query

CALL_SELECT = """
SELECT c.call_id, c.operator_id, c.customer_id, c.customer_label, c.language, c.protocol,
       c.sample_rate, c.channels, c.contact_channel, c.started_at, c.ended_at, c.status,
       c.summary, c.instance_id,
       (SELECT COUNT(*) FROM utterances u WHERE u.call_id = c.call_id) AS utterance_count,
       (SELECT COUNT(*) FROM alerts a WHERE a.call_id = c.call_id) AS alert_count,
       ARRAY(SELECT k.category FROM call_categories k WHERE k.call_id = c.call_id
             ORDER BY k.category COLLATE "C") AS categories,
       EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.call_id) AS recording
FROM calls c"""


def call_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "categories": list(row["categories"] or ())}


def stored_alert(row: dict[str, Any], acks: list[dict[str, Any]]) -> StoredAlert:
    """The alert with its acks (picked out of all the call's `acks`)."""
    return StoredAlert(
        alert_id=row["alert_id"], t=row["t"], action=row["action"], severity=row["severity"],
        reason=row["reason"], evidence=tuple(row["evidence"]),
        categories=tuple(row["categories"]), created_at=row["created_at"],
        acks=tuple(
            StoredAck(**{k: ack[k] for k in ("operator_id", "outcome", "at", "seconds_to_ack")})
            for ack in acks
            if ack["alert_id"] == row["alert_id"]
        ),
    )


def call_parts(cur: Cursor[dict[str, Any]], call_id: str
               ) -> tuple[list[StoredUtterance], list[StoredAlert]]:
    """A call's utterances and its alerts (each with its acks), in order."""
    utterances = cur.execute(
        'SELECT seq, channel, "start", "end", lang, text, neg, neu, pos, categories,'
        " loudness_db, raised_voice FROM utterances WHERE call_id = %s ORDER BY seq",
        (call_id,),
    ).fetchall()
    alerts = cur.execute(
        "SELECT * FROM alerts WHERE call_id = %s ORDER BY t, created_at", (call_id,)
    ).fetchall()
    acks = cur.execute(
        "SELECT k.alert_id, k.operator_id, k.outcome, k.at, k.seconds_to_ack"
        " FROM acks k JOIN alerts a USING (alert_id) WHERE a.call_id = %s ORDER BY k.id",
        (call_id,),
    ).fetchall()
    # `rows.stored_utterance` reads SQLite's JSON text; jsonb arrives decoded
    return ([stored_utterance({**u, "categories": json.dumps(u["categories"])})
             for u in utterances],
            [stored_alert(a, acks) for a in alerts])


def read_timeline(
    cur: Cursor[dict[str, Any]], customer_id: str, *, since: float | None,
    before: float | None, exclude: str | None, limit: int,
) -> CustomerTimeline:
    """PostgreSQL's customer timeline (`timeline.timeline_query`), in one transaction."""
    sql, params = timeline_query(customer_id, since=since, before=before, exclude=exclude,
                                 limit=limit, placeholder="%s", order_id='call_id COLLATE "C"')
    contacts = []
    for call in cur.execute(sql, params).fetchall():
        utterances, alerts = call_parts(cur, call["call_id"])
        contacts.append(timeline_contact(call, call["summary"], utterances, alerts))
    return CustomerTimeline(customer_id=customer_id, contacts=tuple(contacts))
