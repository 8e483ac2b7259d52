-- The call store on PostgreSQL: the same tables as the SQLite store (storage/schema.py),
-- with PostgreSQL's types. Wall-clock times are UTC epoch seconds, in-call times seconds
-- from the call start (double precision, as SQLite's REAL). JSON columns are jsonb.

-- Trigram indexes make `text_folded LIKE '% word%'` (the search rule of storage/text.py)
-- an index scan. pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the
-- database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE calls (
    call_id        text PRIMARY KEY,
    operator_id    text NOT NULL,
    customer_id    text,
    customer_label text,  -- a caller's number, masked
    language       text NOT NULL,
    protocol       text NOT NULL,
    sample_rate    integer NOT NULL CHECK (sample_rate > 0),
    channels       integer NOT NULL CHECK (channels > 0),
    started_at     double precision NOT NULL,
    ended_at       double precision,
    status         text NOT NULL DEFAULT 'live'
                   CHECK (status IN ('live', 'completed', 'interrupted', 'failed')),
    summary        jsonb,  -- the summary event, or NULL
    instance_id    text    -- the instance that runs (ran) the call
);
CREATE INDEX calls_by_started ON calls (started_at);
CREATE INDEX calls_by_operator ON calls (operator_id, started_at);
CREATE INDEX calls_by_customer ON calls (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX calls_live ON calls (instance_id) WHERE status = 'live';

CREATE TABLE utterances (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id      text NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    seq          integer NOT NULL,  -- 0, 1, 2... within the call
    channel      text NOT NULL,
    "start"      double precision NOT NULL,
    "end"        double precision NOT NULL,
    lang         text NOT NULL,
    text         text NOT NULL,
    text_folded  text NOT NULL,     -- storage.text.fold_text(text)
    neg          double precision NOT NULL,
    neu          double precision NOT NULL,
    pos          double precision NOT NULL,
    categories   jsonb NOT NULL DEFAULT '[]',
    loudness_db  double precision NOT NULL,
    raised_voice boolean NOT NULL DEFAULT false,
    UNIQUE (call_id, seq)
);
CREATE INDEX utterances_text_trgm ON utterances USING gin (text_folded gin_trgm_ops);

CREATE TABLE alerts (
    alert_id   text PRIMARY KEY,
    call_id    text NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    t          double precision NOT NULL,
    action     text NOT NULL,
    severity   text NOT NULL,
    reason     text NOT NULL,
    evidence   jsonb NOT NULL DEFAULT '[]',
    categories jsonb NOT NULL DEFAULT '[]',
    created_at double precision NOT NULL
);
CREATE INDEX alerts_by_call ON alerts (call_id, t);

CREATE TABLE acks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       text NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    operator_id    text NOT NULL,
    outcome        text NOT NULL
                   CHECK (outcome IN ('apologised', 'offered_bonus', 'called_supervisor',
                                      'dismissed')),
    at             double precision NOT NULL,
    seconds_to_ack double precision NOT NULL,
    UNIQUE (alert_id, operator_id, outcome)  -- the same answer again is not a new row
);

-- Every category any utterance or alert of the call carried: the category filter's index.
CREATE TABLE call_categories (
    call_id  text NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    category text NOT NULL,
    PRIMARY KEY (call_id, category)
);
CREATE INDEX call_categories_by_category ON call_categories (category, call_id);

CREATE TABLE dtmf (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id text NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    t       double precision NOT NULL,
    channel text,
    digits  text NOT NULL  -- masked
);
CREATE INDEX dtmf_by_call ON dtmf (call_id, t);

-- Recordings (storage/pg_recordings.py): 16-bit little-endian PCM, interleaved, in the
-- chunks the live call appended about once a second; read back as one WAV.
CREATE TABLE recordings (
    call_id     text PRIMARY KEY REFERENCES calls (call_id) ON DELETE CASCADE,
    sample_rate integer NOT NULL CHECK (sample_rate > 0),
    channels    integer NOT NULL CHECK (channels IN (1, 2))
);
CREATE TABLE recording_chunks (
    call_id text NOT NULL REFERENCES recordings (call_id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    pcm     bytea NOT NULL,
    PRIMARY KEY (call_id, seq)
);
-- PCM hardly compresses: store it as it is, without TOAST's compression attempt.
ALTER TABLE recording_chunks ALTER COLUMN pcm SET STORAGE EXTERNAL;
