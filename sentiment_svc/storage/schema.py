"""The SQLite schema of the call store, its version, and creating/upgrading it on open.

Wall-clock times (``started_at``, ``ended_at``, ``created_at``, ``at``) are UTC epoch
seconds (REAL); in-call times (``start``, ``end``, ``t``) are seconds from the call start.
JSON columns hold the lists/objects of `sentiment_svc.domain` (categories, evidence, the
summary). A new database is created at version 1 and upgraded like an old one.
"""

from __future__ import annotations

import sqlite3

from sentiment_svc.domain.vocabulary import AckOutcome, CallStatus, ContactChannel

SCHEMA_VERSION = 6

CALL_STATUSES = tuple(status.value for status in CallStatus)
ACK_OUTCOMES = tuple(outcome.value for outcome in AckOutcome)
CONTACT_CHANNELS = tuple(channel.value for channel in ContactChannel)

_SCHEMA_V1 = f"""
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE calls (
    call_id     TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    customer_id TEXT,
    language    TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    sample_rate INTEGER NOT NULL CHECK (sample_rate > 0),
    channels    INTEGER NOT NULL CHECK (channels > 0),
    started_at  REAL NOT NULL,
    ended_at    REAL,
    status      TEXT NOT NULL DEFAULT 'live' CHECK (status IN {CALL_STATUSES!r}),
    summary     TEXT  -- JSON object: the summary event, or NULL
);
CREATE INDEX calls_by_started ON calls (started_at);
CREATE INDEX calls_by_operator ON calls (operator_id, started_at);
CREATE INDEX calls_by_customer ON calls (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX calls_live ON calls (status) WHERE status = 'live';

CREATE TABLE utterances (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,  -- 0, 1, 2... within the call
    channel     TEXT NOT NULL,
    "start"     REAL NOT NULL,
    "end"       REAL NOT NULL,
    lang        TEXT NOT NULL,
    text        TEXT NOT NULL,
    text_folded TEXT NOT NULL,     -- storage.text.fold_text(text)
    neg         REAL NOT NULL,
    neu         REAL NOT NULL,
    pos         REAL NOT NULL,
    categories  TEXT NOT NULL DEFAULT '[]',  -- JSON list of str
    loudness_db REAL NOT NULL,
    UNIQUE (call_id, seq)
);

CREATE TABLE alerts (
    alert_id    TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    t           REAL NOT NULL,
    action      TEXT NOT NULL,
    severity    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    evidence    TEXT NOT NULL DEFAULT '[]',  -- JSON list of str
    categories  TEXT NOT NULL DEFAULT '[]',  -- JSON list of str (if the event has any)
    created_at  REAL NOT NULL
);
CREATE INDEX alerts_by_call ON alerts (call_id, t);

CREATE TABLE acks (
    id             INTEGER PRIMARY KEY,
    alert_id       TEXT NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    operator_id    TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN {ACK_OUTCOMES!r}),
    at             REAL NOT NULL,
    seconds_to_ack REAL NOT NULL
);
CREATE INDEX acks_by_alert ON acks (alert_id);

-- Every category any utterance or alert of the call carried: the category filter's index.
CREATE TABLE call_categories (
    call_id  TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    PRIMARY KEY (call_id, category)
) WITHOUT ROWID;
CREATE INDEX call_categories_by_category ON call_categories (category, call_id);
"""

_FTS = """
CREATE VIRTUAL TABLE utterances_fts USING fts5 (
    text_folded, content='utterances', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER utterances_fts_insert AFTER INSERT ON utterances BEGIN
    INSERT INTO utterances_fts (rowid, text_folded) VALUES (new.id, new.text_folded);
END;
CREATE TRIGGER utterances_fts_delete AFTER DELETE ON utterances BEGIN
    INSERT INTO utterances_fts (utterances_fts, rowid, text_folded)
        VALUES ('delete', old.id, old.text_folded);
END;
CREATE TRIGGER utterances_fts_update AFTER UPDATE OF text_folded ON utterances BEGIN
    INSERT INTO utterances_fts (utterances_fts, rowid, text_folded)
        VALUES ('delete', old.id, old.text_folded);
    INSERT INTO utterances_fts (rowid, text_folded) VALUES (new.id, new.text_folded);
END;
"""

# version N -> the script that upgrades N-1 to N
_MIGRATIONS: dict[int, str] = {
    2: """
ALTER TABLE utterances ADD COLUMN raised_voice INTEGER NOT NULL DEFAULT 0;
CREATE TABLE dtmf (
    id      INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    t       REAL NOT NULL,
    channel TEXT,
    digits  TEXT NOT NULL  -- masked
);
CREATE INDEX dtmf_by_call ON dtmf (call_id, t);
""",
    3: """
ALTER TABLE calls ADD COLUMN customer_label TEXT;  -- a caller's number, masked
""",
    4: """
-- CRM webhooks (storage.outbox): one row per event and target, written in the transaction
-- of what it describes, deleted once delivered. No foreign key: a contact may be a chat.
CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order within a contact
    target          TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,  -- the event's JSON, sent as it is
    created_at      REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    done_steps      TEXT NOT NULL DEFAULT '[]',  -- JSON list: an adapter's requests that went
    last_error      TEXT,
    UNIQUE (target, event_id)
);
CREATE INDEX webhook_outbox_heads ON webhook_outbox (target, contact_id, id);
-- What a CRM answered about a contact (Bitrix24's CALL_ID), for its later events.
CREATE TABLE webhook_refs (
    target     TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    refs       TEXT NOT NULL DEFAULT '{}',  -- JSON object of str
    PRIMARY KEY (target, contact_id)
) WITHOUT ROWID;
""",
    # Text contacts (chat, messenger, e-mail) are calls of another channel: the same rows,
    # so search, export, erasure, retention and the customer's history cover them. They
    # have no recording; their sample_rate/channels are nominal (16000, 2).
    5: f"""
ALTER TABLE calls ADD COLUMN contact_channel TEXT NOT NULL DEFAULT 'phone'
    CHECK (contact_channel IN {CONTACT_CHANNELS!r});
CREATE INDEX calls_by_customer_started ON calls (customer_id, started_at)
    WHERE customer_id IS NOT NULL;
""",
    6: """
-- The instance running a live call (a cluster: SENTIMENT_DATABASE_URL or _REDIS_URL);
-- NULL when embedded.
ALTER TABLE calls ADD COLUMN instance_id TEXT;
CREATE INDEX calls_live_by_instance ON calls (instance_id) WHERE status = 'live';
""",
}


class SchemaError(RuntimeError):
    """The database file cannot be used by this version of sentiment-svc."""


def fts5_available(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5 (x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.fts5_probe")
    return True


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return row is not None


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run the statements one by one.
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


def ensure_schema(conn: sqlite3.Connection, *, fts: bool) -> bool:
    """Create or upgrade the schema inside one transaction; return whether FTS5 is in use.

    `conn` must be in autocommit mode (``isolation_level=None``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _has_table(conn, "schema_version"):
            _run_script(conn, _SCHEMA_V1)
            conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"the database has schema version {version}, newer than this sentiment-svc "
                f"understands ({SCHEMA_VERSION}); upgrade sentiment-svc"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            _run_script(conn, _MIGRATIONS[step])
            conn.execute("UPDATE schema_version SET version = ?", (step,))
        use_fts = fts and fts5_available(conn)
        if use_fts and not _has_table(conn, "utterances_fts"):
            _run_script(conn, _FTS)
            conn.execute("INSERT INTO utterances_fts (utterances_fts) VALUES ('rebuild')")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return use_fts
