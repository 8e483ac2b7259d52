"""`PgCallStore`: the call store on PostgreSQL, shared by every instance of a cluster.

The same interface, values, semantics and errors as the SQLite `db.CallStore`
(`base.CallRepository`), through psycopg 3 and a `psycopg_pool.ConnectionPool`: each
method is one transaction on a pooled connection, so the store thread, the audio workers
(recordings) and a second instance can use it at once. Schema: `pg_schema` (versioned SQL,
applied on open); recordings: `pg_recordings`; filters and row shaping: `pg_rows`; the
CRM webhook outbox, written in each event's transaction and claimed by one instance's worker
at a time: `pg_outbox`.

Search uses the same rule as SQLite's (`storage.text`): utterances keep a folded copy
(``text_folded``) and every query word must start a word of one utterance, matched as
``text_folded LIKE '% word%'`` and served by a pg_trgm GIN index. PostgreSQL's full text
search was not taken: its parser splits words its own way (underscores, numbers, e-mail
and URL tokens) and stems or not by configuration, so the two stores would answer some
queries differently; trigrams index exactly the folded text both stores match.
(PostgreSQL documentation: pg_trgm, "Index Support"; psycopg 3: "Connection pools".)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from sentiment_svc.domain.customers import CustomerTimeline
from sentiment_svc.domain.messages import CallSummary, Dtmf
from sentiment_svc.domain.records import (
    CallDetail,
    CallOpened,
    CustomerPast,
    StoredCall,
    StoredDtmf,
)
from sentiment_svc.domain.vocabulary import ENDED_STATUSES, AckOutcome, CallStatus
from sentiment_svc.frames import Alert, UtteranceAnalysis
from sentiment_svc.storage.errors import (
    CallExistsError,
    CallLiveError,
    CallNotLiveError,
    UnknownAlertError,
    UnknownCallError,
)
from sentiment_svc.storage.outbox import subscriptions
from sentiment_svc.storage.pg_outbox import CLAIM_S, PgWebhookOutbox, claimer_name
from sentiment_svc.storage.pg_recordings import PgRecordings
from sentiment_svc.storage.pg_rows import (
    CALL_SELECT,
    call_fields,
    call_parts,
    read_timeline,
)
from sentiment_svc.storage.pg_schema import migrate
from sentiment_svc.storage.rows import call_filters
from sentiment_svc.storage.text import fold_text

POOL_MIN = 1
POOL_MAX = 8  # the store thread, the audio workers' recording flushes, REST reads
CONNECT_TIMEOUT_S = 5
# How long a store call waits for a pooled connection (the server down or restarting)
# before it fails with `psycopg_pool.PoolTimeout`, an `OperationalError`.
WAIT_FOR_CONNECTION_S = 5.0


class PgCallStore(PgWebhookOutbox):
    # what `storage.hop.StoreHop` tries again: the server unreachable, restarting, failing
    # over (psycopg_pool's PoolTimeout is one too)
    transient_errors: tuple[type[BaseException], ...] = (psycopg.OperationalError,)

    def __init__(self, url: str, *, pool_max: int = POOL_MAX,
                 webhooks: Mapping[str, Iterable[str]] | None = None,
                 claim_s: float = CLAIM_S) -> None:
        """Connect, bring the schema up to date, open the pool. Errors: psycopg's
        `OperationalError` (unreachable, refused) and `pg_schema.SchemaError`; `factory.
        open_store` turns them into one clear `StoreUnavailableError`. `webhooks`: CRM
        webhook target name -> the events it takes; `claim_s`: see `pg_outbox.CLAIM_S`."""
        self.url = url  # holds the password: never log it (factory.describe_url)
        self._webhooks = subscriptions(webhooks)
        self._claimer = claimer_name()
        self._claim_s = claim_s
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            migrate(conn)
        self._pool = ConnectionPool(
            url, min_size=POOL_MIN, max_size=pool_max, open=False, name="sentiment-store",
            timeout=WAIT_FOR_CONNECTION_S,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
            check=ConnectionPool.check_connection,  # a restarted server: reconnect, not fail
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
        except BaseException:
            self._pool.close()  # stop its workers' reconnecting
            raise
        self.recordings = PgRecordings(self._pool)

    def close(self) -> None:
        self._release_claims()
        self._pool.close()

    # -- writing -----------------------------------------------------------------------

    def start_call(self, call: CallOpened) -> None:
        """Store a new live call; `CallExistsError` if the id is taken."""
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "INSERT INTO calls (call_id, operator_id, customer_id, customer_label,"
                    " language, protocol, sample_rate, channels, started_at, contact_channel,"
                    " instance_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (call.call_id, call.operator_id, call.customer_id, call.customer_label,
                     str(call.language), str(call.protocol), call.sample_rate, call.channels,
                     call.started_at, str(call.contact_channel), call.instance_id),
                )
                self._outbox_started(conn, call)
        except pg_errors.UniqueViolation as exc:
            raise CallExistsError(call.call_id) from exc

    def add_utterance(self, call_id: str, utterance: UtteranceAnalysis) -> int:
        """Store an utterance; return its sequence number in the call (0, 1, ...)."""
        sentiment = utterance.sentiment
        with self._pool.connection() as conn:
            _require_call(conn, call_id, lock=True)  # serialises the seq of one call
            (seq,) = conn.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM utterances WHERE call_id = %s",
                (call_id,),
            ).fetchone()
            conn.execute(
                'INSERT INTO utterances (call_id, seq, channel, "start", "end", lang, text,'
                " text_folded, neg, neu, pos, categories, loudness_db, raised_voice)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (call_id, seq, str(utterance.channel), utterance.start, utterance.end,
                 utterance.lang, utterance.text, fold_text(utterance.text), sentiment.neg,
                 sentiment.neu, sentiment.pos, _json_list(utterance.categories),
                 utterance.loudness_db, bool(utterance.raised_voice)),
            )
            _add_categories(conn, call_id, utterance.categories)
        return int(seq)

    def add_alert(self, call_id: str, alert: Alert, *, created_at: float | None = None) -> str:
        """Store an alert; return its new alert id. `created_at` defaults to now."""
        alert_id = uuid.uuid4().hex[:12]
        with self._pool.connection() as conn:
            _require_call(conn, call_id, lock=True)  # its webhook's place (pg_outbox)
            conn.execute(
                "INSERT INTO alerts (alert_id, call_id, t, action, severity, reason, evidence,"
                " categories, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (alert_id, call_id, alert.t, str(alert.action), str(alert.severity),
                 alert.reason, _json_list(alert.evidence), _json_list(alert.categories),
                 time.time() if created_at is None else created_at),
            )
            _add_categories(conn, call_id, alert.categories)
            self._outbox_alert(conn, call_id, alert_id, alert)
        return alert_id

    def add_ack(
        self, call_id: str, alert_id: str, operator_id: str, outcome: AckOutcome, at: float,
        seconds_to_ack: float,
    ) -> bool:
        """Record the operator's answer to an alert (`db.CallStore.add_ack`): the same
        answer again is not stored twice. Returns whether this one was stored."""
        outcome = AckOutcome(outcome)
        with self._pool.connection() as conn:
            # the call's row first, as every writer of a webhook (pg_outbox: "Order")
            conn.execute("SELECT 1 FROM calls WHERE call_id = %s FOR UPDATE", (call_id,))
            row = conn.execute(
                "SELECT 1 FROM alerts WHERE alert_id = %s AND call_id = %s", (alert_id, call_id)
            ).fetchone()
            if row is None:
                raise UnknownAlertError(call_id, alert_id)
            cur = conn.execute(
                "INSERT INTO acks (alert_id, operator_id, outcome, at, seconds_to_ack)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (alert_id, operator_id, outcome) DO NOTHING",
                (alert_id, operator_id, str(outcome), at, seconds_to_ack),
            )
            if cur.rowcount == 0:
                return False
            self._outbox_ack(conn, call_id, alert_id, operator_id, outcome, seconds_to_ack)
        return True

    def add_dtmf(self, call_id: str, dtmf: Dtmf) -> None:
        """Store a key press (its digits already masked)."""
        with self._pool.connection() as conn:
            _require_call(conn, call_id)
            conn.execute(
                "INSERT INTO dtmf (call_id, t, channel, digits) VALUES (%s, %s, %s, %s)",
                (call_id, dtmf.t, None if dtmf.channel is None else str(dtmf.channel),
                 dtmf.digits),
            )

    def end_call(
        self, call_id: str, status: CallStatus, summary: CallSummary | None, ended_at: float
    ) -> None:
        """Close a live call; `CallNotLiveError` if it already ended."""
        if status not in ENDED_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ENDED_STATUSES)}")
        summary_json = None if summary is None else summary.model_dump_json()
        with self._pool.connection() as conn:
            current = _require_call(conn, call_id, lock=True)
            if current != "live":
                raise CallNotLiveError(call_id, current)
            conn.execute(
                "UPDATE calls SET status = %s, summary = %s, ended_at = %s WHERE call_id = %s",
                (str(CallStatus(status)), summary_json, ended_at, call_id),
            )
            self._outbox_ended(conn, call_id, CallStatus(status), summary, ended_at)

    def mark_unfinished_interrupted(self, now: float) -> list[str]:
        """Every call still live, of any instance, becomes interrupted (ended at `now`).
        Only for a database one instance uses: a cluster's instances call
        `mark_instance_interrupted` for themselves and for the dead."""
        return self._interrupt("status = 'live'", (), now)

    def mark_instance_interrupted(self, instance_id: str, now: float) -> list[str]:
        """The live calls of `instance_id` become interrupted, ended at `now`; their ids."""
        return self._interrupt("status = 'live' AND instance_id = %s", (instance_id,), now)

    def live_instances(self) -> list[str]:
        """The instances that have live calls in the store (a cluster's; not embedded)."""
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT DISTINCT instance_id FROM calls"
                                " WHERE status = 'live' AND instance_id IS NOT NULL").fetchall()
        return [row[0] for row in rows]

    def resume_call(self, call_id: str, instance_id: str, dead: str | None) -> bool:
        """A call reconnected to `instance_id`: live again there, if it was interrupted or
        is live on `dead` (an instance without a heartbeat). False if it is not resumable."""
        with self._pool.connection() as conn:
            changed = conn.execute(
                "UPDATE calls SET status = 'live', ended_at = NULL, summary = NULL,"
                " instance_id = %s WHERE call_id = %s AND (status = 'interrupted'"
                " OR (status = 'live' AND instance_id = %s))",
                (instance_id, call_id, dead),
            ).rowcount
        return changed == 1

    def _interrupt(self, where: str, params: tuple[Any, ...], now: float) -> list[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"WITH ended AS (UPDATE calls SET status = 'interrupted', ended_at = %s"
                f" WHERE {where} RETURNING call_id, started_at)"
                ' SELECT call_id FROM ended ORDER BY started_at, call_id COLLATE "C"',
                (now, *params),
            ).fetchall()
            for (call_id,) in rows:
                self._outbox_ended(conn, call_id, CallStatus.INTERRUPTED, None, now)
        return [row[0] for row in rows]

    # -- erasure -------------------------------------------------------------------------

    def delete_call(self, call_id: str) -> bool:
        """Erase a call (rows, recording); False if there was none; `CallLiveError` while
        it is live."""
        return self._erase("call_id = %s", (call_id,)) > 0

    def delete_customer(self, customer_id: str) -> int:
        """Erase every call of a customer, all or nothing; how many were erased."""
        return self._erase("customer_id = %s", (customer_id,))

    def purge(self, *, audio_before: float | None, calls_before: float | None) -> dict[str, int]:
        """Retention: recordings of ended calls started before `audio_before`, and whole
        ended calls started before `calls_before`. Returns what was deleted."""
        calls = recordings = 0
        if calls_before is not None:
            calls = self._erase("started_at < %s AND status != 'live'", (calls_before,))
        if audio_before is not None:
            with self._pool.connection() as conn:
                recordings = conn.execute(
                    "DELETE FROM recordings r USING calls c WHERE r.call_id = c.call_id"
                    " AND c.started_at < %s AND c.status != 'live'",
                    (audio_before,),
                ).rowcount
        return {"calls": calls, "recordings": recordings}

    def _erase(self, where: str, params: tuple[Any, ...]) -> int:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT call_id, status FROM calls WHERE {where} FOR UPDATE", params
            ).fetchall()
            for call_id, status in rows:
                if status == "live":
                    raise CallLiveError(call_id)
            conn.execute(f"DELETE FROM calls WHERE {where}", params)  # cascades
            self._erase_webhooks(conn, [call_id for call_id, _ in rows])
        return len(rows)

    # -- reading -------------------------------------------------------------------------

    def get_call(self, call_id: str) -> CallDetail | None:
        """The call with its utterances, alerts (each with ``acks``), key presses, summary."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"{CALL_SELECT} WHERE c.call_id = %s", (call_id,)).fetchone()
            if row is None:
                return None
            utterances, alerts = call_parts(cur, call_id)
            dtmf = cur.execute(
                "SELECT t, channel, digits FROM dtmf WHERE call_id = %s ORDER BY id", (call_id,)
            ).fetchall()
        return CallDetail(
            **call_fields(row), utterances=tuple(utterances), alerts=tuple(alerts),
            dtmf=tuple(StoredDtmf(**d) for d in dtmf),
        )

    def list_calls(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        operator_id: str | None = None,
        has_alert: bool | None = None,
        category: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoredCall]:
        """Calls, newest first; the filters of `db.CallStore.list_calls`."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        clause, params = call_filters(
            since=since, until=until, operator_id=operator_id, has_alert=has_alert,
            category=category, text=text, fts=False, placeholder="%s",
        )  # the pg_trgm GIN index serves the LIKEs
        sql = (CALL_SELECT + clause
               + ' ORDER BY c.started_at DESC, c.call_id COLLATE "C" LIMIT %s OFFSET %s')
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(sql, (*params, limit, offset)).fetchall()
        return [StoredCall(**call_fields(row)) for row in rows]

    def customer_history(
        self, customer_id: str, since: float, until: float | None = None
    ) -> CustomerPast:
        """What this customer's finished contacts started in [`since`, `until`) left
        (`db.CallStore.customer_history`)."""
        window = (customer_id, since, float("inf") if until is None else until)
        with self._pool.connection() as conn:
            calls = conn.execute(
                "SELECT summary FROM calls WHERE customer_id = %s AND started_at >= %s"
                " AND started_at < %s AND status != 'live'",
                window,
            ).fetchall()
            categories = conn.execute(
                "SELECT k.category, COUNT(*) FROM call_categories k JOIN calls c USING (call_id)"
                " WHERE c.customer_id = %s AND c.started_at >= %s AND c.started_at < %s"
                " AND c.status != 'live' GROUP BY k.category",
                window,
            ).fetchall()
        negative = sum(
            1 for (summary,) in calls if summary and summary.get("negative_share", 0) >= 0.5
        )
        return CustomerPast(
            previous_calls=len(calls), negative_calls=negative,
            categories={category: count for category, count in categories},
        )

    def customer_timeline(
        self, customer_id: str, *, since: float | None = None, before: float | None = None,
        exclude: str | None = None, limit: int = 100,
    ) -> CustomerTimeline:
        """A customer's calls and text contacts, newest first (see `storage.timeline`)."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return read_timeline(cur, customer_id, since=since, before=before,
                                 exclude=exclude, limit=limit)


def _json_list(values: tuple[str, ...]) -> str:
    return json.dumps([str(value) for value in values], ensure_ascii=False)


def _require_call(conn: psycopg.Connection, call_id: str, *, lock: bool = False) -> str:
    """The call's status; `UnknownCallError` if there is no such call. `lock`: hold the row
    until the transaction ends (writers of one call's sequence queue)."""
    suffix = " FOR UPDATE" if lock else ""
    row = conn.execute(
        f"SELECT status FROM calls WHERE call_id = %s{suffix}", (call_id,)
    ).fetchone()
    if row is None:
        raise UnknownCallError(call_id)
    return str(row[0])


def _add_categories(conn: psycopg.Connection, call_id: str, categories: tuple[str, ...]) -> None:
    if categories:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO call_categories (call_id, category) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                [(call_id, str(category)) for category in categories],
            )
