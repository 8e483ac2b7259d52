-- Text contacts and CRM webhooks on PostgreSQL: what SQLite's migrations 4 and 5
-- (storage/schema.py) added to the embedded store.

-- Text contacts (chat, messenger, e-mail) are calls of another channel: the same rows, so
-- search, export, erasure, retention and the customer's history cover them. The CHECK lists
-- domain.vocabulary.ContactChannel (tests/test_postgres.py keeps the two equal).
ALTER TABLE calls ADD COLUMN contact_channel text NOT NULL DEFAULT 'phone'
    CHECK (contact_channel IN ('phone', 'chat', 'messenger', 'email'));
-- the customer's timeline and history: one customer's contacts by time
CREATE INDEX calls_by_customer_started ON calls (customer_id, started_at)
    WHERE customer_id IS NOT NULL;

-- CRM webhooks (storage/pg_outbox.py): one row per event and target, written in the
-- transaction of what it describes, deleted once delivered. No foreign key: a row outlives
-- nothing, erasure deletes it with its contact. Several instances deliver from this one
-- table: a worker claims a contact's oldest row by setting claimed_by/claimed_until (under
-- FOR UPDATE SKIP LOCKED), so no other instance sends it until the claim is released
-- (delivered, failed) or expires (its instance died mid-delivery).
CREATE TABLE webhook_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- order within a contact
    target          text NOT NULL,
    contact_id      text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         text NOT NULL,  -- the event's JSON, sent byte for byte (not jsonb)
    created_at      double precision NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    done_steps      jsonb NOT NULL DEFAULT '[]',  -- an adapter's requests that went through
    last_error      text,
    claimed_by      text,              -- the store object delivering it now, or NULL
    claimed_until   double precision,  -- when that claim lapses (UTC epoch seconds)
    UNIQUE (target, event_id)
);
CREATE INDEX webhook_outbox_heads ON webhook_outbox (target, contact_id, id);
CREATE INDEX webhook_outbox_by_contact ON webhook_outbox (contact_id);

-- What a CRM answered about a contact (Bitrix24's CALL_ID), for its later events.
CREATE TABLE webhook_refs (
    target     text NOT NULL,
    contact_id text NOT NULL,
    refs       jsonb NOT NULL DEFAULT '{}',  -- object of strings
    PRIMARY KEY (target, contact_id)
);
CREATE INDEX webhook_refs_by_contact ON webhook_refs (contact_id);
