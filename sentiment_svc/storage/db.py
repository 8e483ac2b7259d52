"""`CallStore`: calls, utterances, alerts, acks and summaries in one SQLite file.

Layout: ``<data_dir>/calls.sqlite3`` (WAL mode, ``synchronous=NORMAL``, foreign keys on,
``secure_delete`` on) and ``<data_dir>/recordings/<call_id>.wav``. The API is synchronous:
one connection guarded by a lock, meant to be driven from one worker thread (async code
reaches it through `storage.hop.StoreHop`). It takes the pipeline's typed values and gives
back the records of `sentiment_svc.domain.records`; wall-clock times are UTC epoch
seconds, in-call times are seconds from the call start. `storage.base.CallRepository` is
the interface it implements.
The schema lives in `.schema`, row shaping and list filters in `.rows`, search folding in
`.text`, the errors in `.errors` (re-exported here), the CRM webhook outbox in `.outbox`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

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
    StoreError,
    UnknownAlertError,
    UnknownCallError,
)
from sentiment_svc.storage.outbox import WebhookOutbox, subscriptions
from sentiment_svc.storage.recording_store import FileRecordings
from sentiment_svc.storage.rows import CALL_SELECT, call_filters, stored_alert, stored_utterance
from sentiment_svc.storage.schema import ensure_schema
from sentiment_svc.storage.text import fold_text
from sentiment_svc.storage.timeline import read_timeline

__all__ = [
    "CallExistsError", "CallLiveError", "CallNotLiveError", "CallStore", "StoreError",
    "UnknownAlertError", "UnknownCallError",
]

log = logging.getLogger(__name__)

DB_NAME = "calls.sqlite3"
RECORDINGS_DIR = "recordings"


class CallStore(WebhookOutbox):
    def __init__(self, data_dir: Path, *, fts: bool = True,
                 webhooks: Mapping[str, Iterable[str]] | None = None) -> None:
        """Open (creating if needed) the store under `data_dir`. ``fts=False`` forces the
        ``LIKE`` search fallback, which is also used when SQLite lacks FTS5. `webhooks`:
        CRM webhook target name -> the events it takes (`storage.outbox`)."""
        self._webhooks = subscriptions(webhooks)
        self.data_dir = Path(data_dir)
        self.recordings = FileRecordings(self.data_dir / RECORDINGS_DIR)
        self.recordings_dir = self.recordings.directory
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.data_dir / DB_NAME, isolation_level=None, check_same_thread=False, timeout=10
        )
        self._conn.row_factory = sqlite3.Row
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON",
                       "secure_delete = ON", "busy_timeout = 10000"):
            self._conn.execute(f"PRAGMA {pragma}")
        self.fts = ensure_schema(self._conn, fts=fts)
        self._fts_index = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'utterances_fts'"
        ).fetchone() is not None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute(f"BEGIN {mode}")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- writing -----------------------------------------------------------------------

    def start_call(self, call: CallOpened) -> None:
        """Store a new live call; `CallExistsError` if the id is taken."""
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO calls (call_id, operator_id, customer_id, customer_label,"
                    " language, protocol, sample_rate, channels, started_at, contact_channel,"
                    " instance_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (call.call_id, call.operator_id, call.customer_id, call.customer_label,
                     call.language, call.protocol, call.sample_rate, call.channels,
                     call.started_at, str(call.contact_channel), call.instance_id),
                )
            except sqlite3.IntegrityError as exc:
                if _exists(db, call.call_id):
                    raise CallExistsError(call.call_id) from exc
                raise
            self._outbox_started(db, call)

    def add_utterance(self, call_id: str, utterance: UtteranceAnalysis) -> int:
        """Store an utterance; return its sequence number in the call (0, 1, ...)."""
        sentiment = utterance.sentiment
        values = (
            str(utterance.channel), utterance.start, utterance.end, utterance.lang,
            utterance.text, fold_text(utterance.text), sentiment.neg, sentiment.neu,
            sentiment.pos, _json_list(utterance.categories), utterance.loudness_db,
            utterance.raised_voice,
        )
        with self._tx() as db:
            _require_call(db, call_id)
            (seq,) = db.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM utterances WHERE call_id = ?", (call_id,)
            ).fetchone()
            db.execute(
                'INSERT INTO utterances (call_id, seq, channel, "start", "end", lang, text,'
                " text_folded, neg, neu, pos, categories, loudness_db, raised_voice)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (call_id, seq, *values),
            )
            _add_categories(db, call_id, utterance.categories)
        return int(seq)

    def add_alert(self, call_id: str, alert: Alert, *, created_at: float | None = None) -> str:
        """Store an alert; return its new alert id. `created_at` defaults to now."""
        alert_id = uuid.uuid4().hex[:12]
        values = (
            alert.t, str(alert.action), str(alert.severity), alert.reason,
            _json_list(alert.evidence), _json_list(alert.categories),
            time.time() if created_at is None else created_at,
        )
        with self._tx() as db:
            _require_call(db, call_id)
            db.execute(
                "INSERT INTO alerts (alert_id, call_id, t, action, severity, reason, evidence,"
                " categories, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (alert_id, call_id, *values),
            )
            _add_categories(db, call_id, alert.categories)
            self._outbox_alert(db, call_id, alert_id, alert)
        return alert_id

    def add_ack(
        self, call_id: str, alert_id: str, operator_id: str, outcome: AckOutcome, at: float,
        seconds_to_ack: float,
    ) -> bool:
        """Record the operator's answer to an alert; `at` is UTC epoch seconds. The same
        answer again (a double click, a retrying console) is not stored twice: the first
        one's time stands. Returns whether this one was stored."""
        outcome = AckOutcome(outcome)
        with self._tx() as db:
            row = db.execute(
                "SELECT 1 FROM alerts WHERE alert_id = ? AND call_id = ?", (alert_id, call_id)
            ).fetchone()
            if row is None:
                raise UnknownAlertError(call_id, alert_id)
            repeated = db.execute(
                "SELECT 1 FROM acks WHERE alert_id = ? AND operator_id = ? AND outcome = ?",
                (alert_id, operator_id, str(outcome)),
            ).fetchone()
            if repeated is not None:
                return False
            db.execute(
                "INSERT INTO acks (alert_id, operator_id, outcome, at, seconds_to_ack)"
                " VALUES (?, ?, ?, ?, ?)",
                (alert_id, operator_id, str(outcome), at, seconds_to_ack),
            )
            self._outbox_ack(db, call_id, alert_id, operator_id, outcome, seconds_to_ack)
        return True

    def add_dtmf(self, call_id: str, dtmf: Dtmf) -> None:
        """Store a key press (its digits already masked)."""
        with self._tx() as db:
            _require_call(db, call_id)
            db.execute(
                "INSERT INTO dtmf (call_id, t, channel, digits) VALUES (?, ?, ?, ?)",
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
        with self._tx() as db:
            current = _require_call(db, call_id)
            if current != "live":
                raise CallNotLiveError(call_id, current)
            db.execute(
                "UPDATE calls SET status = ?, summary = ?, ended_at = ? WHERE call_id = ?",
                (str(CallStatus(status)), summary_json, ended_at, call_id),
            )
            self._outbox_ended(db, call_id, CallStatus(status), summary, ended_at)

    def mark_unfinished_interrupted(self, now: float) -> list[str]:
        """At start-up after a crash: every call still live becomes interrupted (ended at
        `now`) and its recording's WAV header is repaired. Returns those call ids."""
        return self._interrupt("", (), now)

    def mark_instance_interrupted(self, instance_id: str, now: float) -> list[str]:
        """A cluster instance stopped (or restarts): its live calls become interrupted, as
        `mark_unfinished_interrupted` does for all. Returns those call ids."""
        return self._interrupt(" AND instance_id = ?", (instance_id,), now)

    def live_instances(self) -> list[str]:
        """The instances that have live calls in the store (a cluster's; not embedded)."""
        with self._tx("DEFERRED") as db:
            rows = db.execute("SELECT DISTINCT instance_id FROM calls"
                              " WHERE status = 'live' AND instance_id IS NOT NULL").fetchall()
        return [row[0] for row in rows]

    def resume_call(self, call_id: str, instance_id: str, dead: str | None) -> bool:
        """A call reconnected to `instance_id`: live again there, if it was interrupted or
        is live on `dead` (an instance without a heartbeat). False if it is not resumable."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE calls SET status = 'live', ended_at = NULL, summary = NULL,"
                " instance_id = ? WHERE call_id = ? AND (status = 'interrupted'"
                " OR (status = 'live' AND instance_id = ?))",
                (instance_id, call_id, dead),
            ).rowcount
        return changed == 1

    def _interrupt(self, where: str, params: tuple[Any, ...], now: float) -> list[str]:
        live = "SELECT call_id FROM calls WHERE status = 'live'" + where
        with self._tx() as db:
            ids = [r[0] for r in db.execute(live, params)]
            db.execute(
                "UPDATE calls SET status = 'interrupted', ended_at = ? WHERE status = 'live'"
                + where, (now, *params),
            )
            for call_id in ids:
                self._outbox_ended(db, call_id, CallStatus.INTERRUPTED, None, now)
        for call_id in ids:
            self.recordings.repair(call_id)
        return ids

    # -- erasure -------------------------------------------------------------------------

    def delete_call(self, call_id: str) -> bool:
        """Erase a call (rows, search index entries, recording); False if there was none.

        `CallLiveError` for a live call (its ingest is still writing it): erase it once ended.
        """
        return self._erase("call_id = ?", (call_id,)) > 0

    def delete_customer(self, customer_id: str) -> int:
        """Erase every call of a customer; return how many calls were erased.

        All or nothing: `CallLiveError` (and nothing erased) while one of them is live.
        """
        return self._erase("customer_id = ?", (customer_id,))

    def purge(self, *, audio_before: float | None, calls_before: float | None) -> dict[str, int]:
        """Retention: delete recordings of ended calls started before `audio_before`, and
        whole ended calls started before `calls_before`. Returns what was deleted."""
        calls = 0
        if calls_before is not None:
            calls = self._erase("started_at < ? AND status != 'live'", (calls_before,))
        recordings = 0
        if audio_before is not None:
            with self._tx("DEFERRED") as db:
                ids = [row[0] for row in db.execute(
                    "SELECT call_id FROM calls WHERE started_at < ? AND status != 'live'",
                    (audio_before,),
                ).fetchall()]
            for call_id in ids:
                recordings += self.recordings.delete(call_id)
        return {"calls": calls, "recordings": recordings}

    def _erase(self, where: str, params: tuple[Any, ...]) -> int:
        with self._tx() as db:
            rows = db.execute(f"SELECT call_id, status FROM calls WHERE {where}", params)
            ids = []
            for call_id, status in rows.fetchall():
                if status == "live":
                    raise CallLiveError(call_id)
                ids.append(call_id)
            db.execute(f"DELETE FROM calls WHERE {where}", params)  # cascades
            self._erase_webhooks(db, ids)
            if ids and self._fts_index:  # rewrite the index: no erased token stays in it
                db.execute("INSERT INTO utterances_fts (utterances_fts) VALUES ('optimize')")
        for call_id in ids:
            self.recordings.delete(call_id)
        if ids:  # secure_delete zeroed the freed pages; move them out of the WAL as well
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(ids)

    # -- reading -------------------------------------------------------------------------

    def recording_path(self, call_id: str) -> Path:
        """Where the call's WAV lives (this store's own; others go through `recordings`)."""
        return self.recordings.path(call_id)

    def get_call(self, call_id: str) -> CallDetail | None:
        """The call with its utterances, alerts (each with ``acks``) and summary."""
        with self._tx("DEFERRED") as db:
            row = db.execute(f"{CALL_SELECT} WHERE c.call_id = ?", (call_id,)).fetchone()
            if row is None:
                return None
            utterances = db.execute(
                'SELECT seq, channel, "start", "end", lang, text, neg, neu, pos, categories,'
                " loudness_db, raised_voice FROM utterances WHERE call_id = ? ORDER BY seq",
                (call_id,),
            ).fetchall()
            alerts = db.execute(
                "SELECT * FROM alerts WHERE call_id = ? ORDER BY t, created_at", (call_id,)
            ).fetchall()
            acks = db.execute(
                "SELECT k.alert_id, k.operator_id, k.outcome, k.at, k.seconds_to_ack"
                " FROM acks k JOIN alerts a USING (alert_id) WHERE a.call_id = ? ORDER BY k.id",
                (call_id,),
            ).fetchall()
            dtmf = db.execute(
                "SELECT t, channel, digits FROM dtmf WHERE call_id = ? ORDER BY id", (call_id,)
            ).fetchall()
        return CallDetail(
            **self._call_fields(row),
            utterances=tuple(stored_utterance(u) for u in utterances),
            alerts=tuple(stored_alert(a, acks) for a in alerts),
            dtmf=tuple(StoredDtmf(**dict(d)) for d in dtmf),
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
        """Calls, newest first. `since` inclusive, `until` exclusive (on ``started_at``);
        `text`: every word starts a word of one utterance (case-insensitive, any script)."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        clause, params = call_filters(
            since=since, until=until, operator_id=operator_id, has_alert=has_alert,
            category=category, text=text, fts=self.fts,
        )
        sql = CALL_SELECT + clause + " ORDER BY c.started_at DESC, c.call_id LIMIT ? OFFSET ?"
        with self._tx("DEFERRED") as db:
            rows = db.execute(sql, (*params, limit, offset)).fetchall()
        return [StoredCall(**self._call_fields(row)) for row in rows]

    def customer_history(
        self, customer_id: str, since: float, until: float | None = None
    ) -> CustomerPast:
        """What this customer's finished calls started in [`since`, `until`) left: how many,
        how many went badly, and each category with the number of calls it came up in."""
        window = (customer_id, since, float("inf") if until is None else until)
        with self._tx("DEFERRED") as db:
            calls = db.execute(
                "SELECT call_id, summary FROM calls WHERE customer_id = ? AND started_at >= ?"
                " AND started_at < ? AND status != 'live'",
                window,
            ).fetchall()
            categories = db.execute(
                "SELECT k.category, COUNT(*) FROM call_categories k JOIN calls c USING (call_id)"
                " WHERE c.customer_id = ? AND c.started_at >= ? AND c.started_at < ?"
                " AND c.status != 'live' GROUP BY k.category",
                window,
            ).fetchall()
        negative = sum(
            1 for call in calls
            if call["summary"] and json.loads(call["summary"]).get("negative_share", 0) >= 0.5
        )
        return CustomerPast(
            previous_calls=len(calls),
            negative_calls=negative,
            categories={category: count for category, count in categories},
        )

    def customer_timeline(
        self, customer_id: str, *, since: float | None = None, before: float | None = None,
        exclude: str | None = None, limit: int = 100,
    ) -> CustomerTimeline:
        """A customer's calls and text contacts, newest first (see `storage.timeline`)."""
        with self._tx("DEFERRED") as db:
            return read_timeline(db, customer_id, since=since, before=before,
                                 exclude=exclude, limit=limit)

    def _call_fields(self, row: sqlite3.Row) -> dict[str, Any]:
        call = dict(row)
        call["summary"] = None if call["summary"] is None else json.loads(call["summary"])
        call["categories"] = sorted(json.loads(call["categories"] or "[]"))
        call["recording"] = self.recordings.exists(call["call_id"])
        return call


def _json_list(values: tuple[str, ...]) -> str:
    return json.dumps([str(value) for value in values], ensure_ascii=False)


def _exists(db: sqlite3.Connection, call_id: str) -> bool:
    return db.execute("SELECT 1 FROM calls WHERE call_id = ?", (call_id,)).fetchone() is not None


def _require_call(db: sqlite3.Connection, call_id: str) -> str:
    """The call's status; `UnknownCallError` if there is no such call."""
    row = db.execute("SELECT status FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        raise UnknownCallError(call_id)
    return str(row[0])


def _add_categories(db: sqlite3.Connection, call_id: str, categories: tuple[str, ...]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO call_categories (call_id, category) VALUES (?, ?)",
        [(call_id, category) for category in categories],
    )
