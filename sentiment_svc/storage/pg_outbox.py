"""The CRM webhook outbox of `PgCallStore`: the same rows and events as SQLite's
(`storage.outbox`, whose `OutboxWriter` writes them in the transaction of each event), and
a worker's side made for several instances delivering from one database.

Claims. Each instance runs its own webhook worker on the shared table, and a delivery is
HTTP requests outside any transaction, so a row lock alone cannot keep a second instance
from sending the same event. `webhook_due` therefore claims what it returns: in one
transaction it picks each contact's oldest row that is due and not claimed, locking them
``FOR UPDATE SKIP LOCKED`` (an instance picking at the same moment skips them rather than
waits, and re-checks a row claimed meanwhile against the claim), and stamps them with this
store object's name (``claimed_by``) and a lapse time (``claimed_until``). Only the oldest
row of a contact is ever picked, claimed or not, so a contact's later event waits for its
earlier one whichever instance holds it: per-contact order holds across the cluster.

Order. "Oldest" is the row id, taken at insert; on PostgreSQL two transactions may commit
in another order than they took their ids (an acknowledgement written by the instance
serving the operator's console while the call's own instance ends it), so each transaction
that writes a contact's webhook holds the contact's ``calls`` row (``FOR UPDATE``, taken
before anything else, or the insert of that row) until it commits: a contact's rows are
numbered in the order they become visible.

Release. A delivered row is deleted, a failed one is released with its retry time, a finished step
extends the claim; `close` releases this object's claims (a stop mid-delivery: the event
goes again at once, with the same idempotency key). An instance that dies mid-delivery
leaves its claims to lapse after `CLAIM_S`, then another instance sends them again (at
least once, as on SQLite after a crash).

(PostgreSQL documentation: SELECT, "The Locking Clause", on SKIP LOCKED; "Read Committed
Isolation Level", on how a locked row is re-checked.)
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from sentiment_svc.domain.webhooks import WebhookEventType
from sentiment_svc.storage.outbox import MAX_ERROR_CHARS, OutboxRow, OutboxWriter

# How long a claimed row stays with its instance without news: longer than one delivery
# (a few requests of `webhook_timeout_s`, 10 s by default), short enough that a dead
# instance's events go out soon after. Each finished step renews it.
CLAIM_S = 120.0


def claimer_name() -> str:
    """A store object's name in ``claimed_by``: the host and process (for a DBA reading the
    table), and a random part (two store objects of one process claim apart)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class PgWebhookOutbox(OutboxWriter):
    """The outbox half of `PgCallStore`; `_pool`, `_claimer`, `_claim_s` come from it."""

    _pool: ConnectionPool
    _claimer: str
    _claim_s: float
    _claimed_any = False  # whether `close` has claims to release (no round trip otherwise)

    def _rows(self, db: Any, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with db.cursor(row_factory=dict_row) as cur:
            return cur.execute(_placeholders(sql), params).fetchall()

    def _many(self, db: Any, sql: str, params: list[tuple[Any, ...]]) -> None:
        if params:
            with db.cursor() as cur:
                cur.executemany(_placeholders(sql), params)

    # -- the worker's side ------------------------------------------------------------------

    def webhook_due(self, target: str, now: float, limit: int) -> tuple[list[OutboxRow], int]:
        """Up to `limit` rows of `target` to send now, claimed for this store object: each
        the oldest undelivered row of its contact, due by `now` and claimed by no other
        instance (or its claim lapsed); and how many rows the target has pending in all.
        This object's own claims come back as on SQLite: its worker asks again only once
        the rows it was given were delivered or failed, so one it is given again was
        abandoned (a worker cancelled mid-delivery)."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            ids = [row["id"] for row in cur.execute(
                "SELECT o.id FROM webhook_outbox o WHERE o.target = %s"
                " AND o.next_attempt_at <= %s"
                " AND (o.claimed_until IS NULL OR o.claimed_until <= %s"
                "      OR o.claimed_by = %s)"
                " AND NOT EXISTS (SELECT 1 FROM webhook_outbox e WHERE e.target = o.target"
                "                 AND e.contact_id = o.contact_id AND e.id < o.id)"
                " ORDER BY o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
                (target, now, now, self._claimer, limit),
            ).fetchall()]
            rows: list[dict[str, Any]] = []
            if ids:
                self._claimed_any = True
                cur.execute(
                    "UPDATE webhook_outbox SET claimed_by = %s, claimed_until = %s"
                    " WHERE id = ANY(%s)", (self._claimer, now + self._claim_s, ids))
                rows = cur.execute(
                    "SELECT o.*, r.refs FROM webhook_outbox o LEFT JOIN webhook_refs r"
                    " ON r.target = o.target AND r.contact_id = o.contact_id"
                    " WHERE o.id = ANY(%s) ORDER BY o.id", (ids,),
                ).fetchall()
            (pending,) = conn.execute(
                "SELECT COUNT(*) FROM webhook_outbox WHERE target = %s", (target,)
            ).fetchone()
        return [_row(row) for row in rows], int(pending)

    def webhook_step_done(self, row_id: int, step: str, refs: Mapping[str, str]) -> None:
        """One request of a row's event went through: keep what the CRM answered, and
        renew this object's claim (the next request may take a while too)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT target, contact_id, done_steps FROM webhook_outbox WHERE id = %s"
                " FOR UPDATE", (row_id,),
            ).fetchone()
            if row is None:
                return
            target, contact_id, done = row
            conn.execute(
                "UPDATE webhook_outbox SET done_steps = %s, claimed_until = CASE"
                " WHEN claimed_by = %s THEN GREATEST(claimed_until, %s) ELSE claimed_until END"
                " WHERE id = %s",
                (json.dumps(sorted({*done, step})), self._claimer,
                 time.time() + self._claim_s, row_id),
            )
            if refs:  # jsonb || jsonb: the later answer's keys win, as in SQLite's merge
                conn.execute(
                    "INSERT INTO webhook_refs (target, contact_id, refs) VALUES (%s, %s, %s)"
                    " ON CONFLICT (target, contact_id)"
                    " DO UPDATE SET refs = webhook_refs.refs || excluded.refs",
                    (target, contact_id, json.dumps(dict(refs), ensure_ascii=False)),
                )

    def webhook_delivered(self, row_id: int) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM webhook_outbox WHERE id = %s", (row_id,))

    def webhook_failed(self, row_id: int, error: str, next_attempt_at: float) -> None:
        """Count the failure and release the claim: any instance retries it when due."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = %s,"
                " next_attempt_at = %s, claimed_by = NULL, claimed_until = NULL"
                " WHERE id = %s",
                (error[:MAX_ERROR_CHARS], next_attempt_at, row_id),
            )

    def webhook_pending(self) -> dict[str, int]:
        """Undelivered rows by target (targets no longer configured included)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT target, COUNT(*) FROM webhook_outbox GROUP BY target"
            ).fetchall()
        return {target: count for target, count in rows}

    def _release_claims(self) -> None:
        """At close: this object's claimed rows go back to whichever instance is first."""
        if not self._claimed_any:
            return
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "UPDATE webhook_outbox SET claimed_by = NULL, claimed_until = NULL"
                    " WHERE claimed_by = %s", (self._claimer,),
                )
        except psycopg.Error:  # the server is gone: the claims lapse by themselves
            pass


def _placeholders(sql: str) -> str:
    """`OutboxWriter`'s statements (``?``, no literal ``?`` or ``%``) in psycopg's style."""
    return sql.replace("?", "%s")


def _row(row: dict[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"], target=row["target"], contact_id=row["contact_id"],
        event_id=row["event_id"], event_type=WebhookEventType(row["event_type"]),
        payload=row["payload"], attempts=row["attempts"],
        done_steps=frozenset(row["done_steps"]), refs=dict(row["refs"] or {}),
    )
