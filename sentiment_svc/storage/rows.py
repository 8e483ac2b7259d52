"""The SQL the store reads calls with, and how rows become the records it returns.

Utterances and alerts come back as `domain.records` values (so a stored call reads like the
live feed, plus store ids); calls come back as their row plus ``utterance_count``,
``alert_count``, ``categories`` and (added by the store) ``recording``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sentiment_svc.domain.messages import SentimentScores
from sentiment_svc.domain.records import StoredAck, StoredAlert, StoredUtterance
from sentiment_svc.storage.text import fts_query, like_patterns, query_words

CALL_SELECT = """
SELECT c.call_id, c.operator_id, c.customer_id, c.customer_label, c.language, c.protocol,
       c.sample_rate, c.channels, c.contact_channel, c.started_at, c.ended_at, c.status,
       c.summary, c.instance_id,
       (SELECT COUNT(*) FROM utterances u WHERE u.call_id = c.call_id) AS utterance_count,
       (SELECT COUNT(*) FROM alerts a WHERE a.call_id = c.call_id) AS alert_count,
       (SELECT json_group_array(category) FROM call_categories k
         WHERE k.call_id = c.call_id) AS categories
FROM calls c"""


def stored_utterance(row: sqlite3.Row) -> StoredUtterance:
    return StoredUtterance(
        seq=row["seq"], channel=row["channel"], start=row["start"], end=row["end"],
        lang=row["lang"], text=row["text"],
        sentiment=SentimentScores(neg=row["neg"], neu=row["neu"], pos=row["pos"]),
        categories=json.loads(row["categories"]), loudness_db=row["loudness_db"],
        raised_voice=bool(row["raised_voice"]),
    )


def stored_alert(row: sqlite3.Row, acks: list[sqlite3.Row]) -> StoredAlert:
    """The alert with its acks (picked out of all the call's `acks`)."""
    return StoredAlert(
        alert_id=row["alert_id"], t=row["t"], action=row["action"], severity=row["severity"],
        reason=row["reason"], evidence=json.loads(row["evidence"]),
        categories=json.loads(row["categories"]), created_at=row["created_at"],
        acks=tuple(
            StoredAck(**{k: ack[k] for k in ("operator_id", "outcome", "at", "seconds_to_ack")})
            for ack in acks
            if ack["alert_id"] == row["alert_id"]
        ),
    )


def call_filters(
    *,
    since: float | None,
    until: float | None,
    operator_id: str | None,
    has_alert: bool | None,
    category: str | None,
    text: str | None,
    fts: bool,
    placeholder: str = "?",
) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its parameters for `list_calls` of either store:
    `placeholder` is the driver's (``?`` sqlite3, ``%s`` psycopg); FTS5 is SQLite's."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"c.started_at >= {placeholder}")
        params.append(since)
    if until is not None:
        where.append(f"c.started_at < {placeholder}")
        params.append(until)
    if operator_id is not None:
        where.append(f"c.operator_id = {placeholder}")
        params.append(operator_id)
    if has_alert is not None:
        exists = "EXISTS (SELECT 1 FROM alerts a WHERE a.call_id = c.call_id)"
        where.append(exists if has_alert else f"NOT {exists}")
    if category is not None:
        where.append("c.call_id IN (SELECT call_id FROM call_categories"
                     f" WHERE category = {placeholder})")
        params.append(category)
    words = query_words(text or "")
    if words and fts:
        where.append(
            "c.call_id IN (SELECT u.call_id FROM utterances u WHERE u.id IN"
            " (SELECT rowid FROM utterances_fts WHERE utterances_fts MATCH ?))"
        )
        params.append(fts_query(words))
    elif words:
        likes = " AND ".join(f"u.text_folded LIKE {placeholder} ESCAPE '\\'" for _ in words)
        where.append(f"c.call_id IN (SELECT u.call_id FROM utterances u WHERE {likes})")
        params.extend(like_patterns(words))
    return (f" WHERE {' AND '.join(where)}" if where else ""), params
