"""What only the PostgreSQL store has, on a real PostgreSQL server on loopback: schema
migrations (idempotent, transactional, safe when instances start together), recordings
appended in chunks and read from another store object, an old database upgraded, and
`open_store`'s clear errors.
The store's shared behaviour runs on both backends in test_storage.py and test_rest.py."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import soundfile

from sentiment_svc.config import Settings
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import AckOutcome, CallStatus, Channel, ContactChannel
from sentiment_svc.frames import Sentiment, UtteranceAnalysis
from sentiment_svc.storage import pg_schema
from sentiment_svc.storage.db import CallStore
from sentiment_svc.storage.factory import StoreUnavailableError, describe_url, open_store
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.storage.pg_recordings import CHUNK_MAX_BYTES
from sentiment_svc.storage.pg_schema import Migration, SchemaError, migrate, migrations
from sentiment_svc.storage.postgres import WAIT_FOR_CONNECTION_S, PgCallStore
from tests.crm_server import ALERT
from tests.pg_server import PostgresServer, binaries_dir, start_postgres

T0 = 1_740_000_000.0
RATE = 8000


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def opened(call_id: str, channels: int = 2) -> CallOpened:
    return CallOpened(call_id=call_id, operator_id="op-1", customer_id=None, language="ru",
                      protocol="native", started_at=T0, sample_rate=RATE, channels=channels)


def test_migrations_apply_once(pg_url: str) -> None:
    shipped = [m.version for m in migrations()]
    assert shipped == list(range(1, len(shipped) + 1))
    with psycopg.connect(pg_url) as conn:
        assert migrate(conn) == shipped
        assert migrate(conn) == []  # idempotent: nothing is due the second time
    store = PgCallStore(pg_url)  # opening applies nothing either, and works
    store.start_call(opened("c1"))
    store.close()
    again = PgCallStore(pg_url)
    assert again.get_call("c1") is not None
    again.close()
    assert versions(pg_url) == shipped


def test_the_sql_checks_list_the_domain_s_values(pg_url: str) -> None:
    """The migrations are plain SQL, so the CHECKs spell out the statuses, outcomes and
    contact channels: they must stay the domain's vocabularies (a new status would
    otherwise fail to store)."""
    with psycopg.connect(pg_url) as conn:
        migrate(conn)
        checks = dict(conn.execute(
            "SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'c'").fetchall())
    status_check = checks["calls.calls_status_check"]
    outcome_check = checks["acks.acks_outcome_check"]
    assert all(f"'{status.value}'" in status_check for status in CallStatus)
    assert status_check.count("'") == 2 * len(CallStatus)
    assert all(f"'{outcome.value}'" in outcome_check for outcome in AckOutcome)
    assert outcome_check.count("'") == 2 * len(AckOutcome)
    channel_check = checks["calls.calls_contact_channel_check"]
    assert all(f"'{channel.value}'" in channel_check for channel in ContactChannel)
    assert channel_check.count("'") == 2 * len(ContactChannel)


def test_two_instances_starting_together_migrate_once(pg_url: str) -> None:
    """Both wait on the advisory lock: one applies every version, the other none, and
    neither fails on the other's half-made tables."""
    barrier = threading.Barrier(2)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with psycopg.connect(pg_url) as conn:
                barrier.wait()
                applied.append(migrate(conn))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    shipped = [m.version for m in migrations()]
    assert sorted(applied) == [[], shipped]
    assert versions(pg_url) == shipped
    stores = []  # and two stores opened at once over the migrated database
    threads = [threading.Thread(target=lambda: stores.append(PgCallStore(pg_url)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(stores) == 2
    stores[0].start_call(opened("from-a"))
    assert stores[1].get_call("from-a") is not None
    for store in stores:
        store.close()


def test_a_failing_migration_leaves_the_database_as_it_was(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = migrations()
    broken = Migration(len(shipped) + 1, "broken",
                       "CREATE TABLE half_made (x integer); SELECT 1 / 0;")
    with psycopg.connect(pg_url) as conn:
        migrate(conn)
        monkeypatch.setattr(pg_schema, "migrations", lambda: [*shipped, broken])
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrate(conn)
        exists = conn.execute("SELECT to_regclass('half_made')").fetchone()[0]
    assert exists is None and versions(pg_url) == [m.version for m in shipped]


def test_a_version_1_database_with_calls_is_upgraded_to_contacts_and_webhooks(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database of the first release, with a call in it: opening it applies 0002, the
    call reads back as a phone call, and the outbox works on it."""
    with psycopg.connect(pg_url) as conn:
        monkeypatch.setattr(pg_schema, "migrations", lambda: migrations()[:1])
        migrate(conn)
        conn.execute(
            "INSERT INTO calls (call_id, operator_id, language, protocol, sample_rate,"
            " channels, started_at) VALUES ('old', 'op-1', 'ru', 'native', 8000, 2, %s)",
            (T0,))
        conn.commit()
    monkeypatch.undo()
    store = PgCallStore(pg_url, webhooks={"crm": ["contact_ended"]})
    try:
        assert versions(pg_url) == [m.version for m in migrations()]
        assert store.get_call("old").contact_channel == "phone"
        store.end_call("old", CallStatus.COMPLETED, None, T0 + 60)
        (row,), pending = store.webhook_due("crm", T0 + 10**9, 10)
        assert (row.contact_id, str(row.event_type), pending) == ("old", "contact_ended", 1)
    finally:
        store.close()


def test_webhook_writers_of_one_contact_queue_on_its_call_row(pg_url: str) -> None:
    """An alert and an acknowledgement (which another instance may write while this one
    ends the call) wait for a transaction holding the call's row: a contact's outbox rows
    are numbered in the order they commit, the order `webhook_due` hands them out in."""
    store = PgCallStore(pg_url, webhooks={"crm": ["alert", "alert_acknowledged"]})
    store.start_call(opened("c1"))
    alert_id = store.add_alert("c1", ALERT)
    writes = [lambda: store.add_alert("c1", ALERT),
              lambda: store.add_ack("c1", alert_id, "op-1", AckOutcome.DISMISSED, T0, 1.0)]
    try:
        for write in writes:
            with psycopg.connect(pg_url) as holder:  # another transaction, mid-way
                holder.execute("SELECT 1 FROM calls WHERE call_id = 'c1' FOR UPDATE")
                writer = threading.Thread(target=write)
                writer.start()
                writer.join(0.5)
                assert writer.is_alive()  # waits for the holder
            writer.join(5)  # the holder committed (the block's end): it goes on
            assert not writer.is_alive()
        rows, pending = store.webhook_due("crm", T0 + 10**9, 10)
        assert pending == 3 and [str(r.event_type) for r in rows] == ["alert"]
    finally:
        store.close()


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        migrate(conn)
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
        conn.commit()
        with pytest.raises(SchemaError, match="schema version 999, newer"):
            migrate(conn)
    with pytest.raises(StoreUnavailableError, match="upgrade sentiment-svc"):
        open_store(Settings(database_url=pg_url))


def test_recordings_are_appended_in_chunks_and_read_from_another_store(pg_url: str) -> None:
    writer_store, reader_store = PgCallStore(pg_url), PgCallStore(pg_url)
    try:
        writer_store.start_call(opened("rec"))
        assert reader_store.recordings.read("rec") is None
        assert not reader_store.get_call("rec").recording
        second = (np.arange(RATE * 2, dtype=np.int16).reshape(RATE, 2) % 3000).astype(np.int16)
        sink = writer_store.recordings.open_writer("rec", RATE, 2)
        for _ in range(3):  # as the live call does: a second of audio, then a flush
            sink.write(second)
            sink.flush()
        sink.write(second[:100])  # written, not yet flushed: no other instance sees it
        audio, rate = soundfile.read(io.BytesIO(reader_store.recordings.read("rec")),
                                     dtype="int16")
        assert rate == RATE and audio.shape == (3 * RATE, 2)
        np.testing.assert_array_equal(audio[-RATE:], second)
        assert reader_store.get_call("rec").recording is True
        with psycopg.connect(pg_url) as conn:
            chunks = conn.execute(
                "SELECT seq, length(pcm) FROM recording_chunks WHERE call_id = 'rec'"
                " ORDER BY seq").fetchall()
        assert chunks == [(0, RATE * 4), (1, RATE * 4), (2, RATE * 4)]
        # the writer's instance dies here; the call resumes elsewhere and appends on
        resumed = reader_store.recordings.open_writer("rec", RATE, 2)
        resumed.write(second[:RATE // 2])
        resumed.close()
        resumed.close()
        audio, _ = soundfile.read(io.BytesIO(writer_store.recordings.read("rec")), dtype="int16")
        assert audio.shape == (3 * RATE + RATE // 2, 2)
        with pytest.raises(ValueError, match="recorded at 8000 Hz, 2 channels"):
            reader_store.recordings.open_writer("rec", 16000, 2)
        with pytest.raises(TypeError):
            resumed.write(np.zeros((10, 2), dtype=np.float32))
    finally:
        writer_store.close()
        reader_store.close()


@contextlib.contextmanager
def store_on_its_own_server() -> Iterator[tuple[PostgresServer, PgCallStore]]:
    """A store on a PostgreSQL of its own, which the test may shut down (the shared one
    stays up)."""
    server = start_postgres(binaries_dir())
    try:
        store = PgCallStore(server.create_database())
        try:
            yield server, store
        finally:
            store.close()
    finally:
        server.stop()


def test_a_long_outage_s_audio_waits_on_disk_and_is_committed_whole_after_it() -> None:
    """Two and a half minutes of a stereo call while the database is down: the audio waiting
    for it outgrows memory and goes to a temporary file; once the database is back, one flush
    commits all of it in rows of at most CHUNK_MAX_BYTES, and the recording reads whole."""
    with store_on_its_own_server() as (server, store):
        store.start_call(opened("outage"))
        sink = store.recordings.open_writer("outage", RATE, 2)
        second = (np.arange(RATE * 2).reshape(RATE, 2) % 3000).astype(np.int16)
        sink.write(second)
        sink.flush()
        server.shut_down()
        for n in range(150):  # the recording thread appends each second and tries
            sink.write(second)  # the store now and then (live.recording.WriteGate)
            if n % 50 == 0:
                with pytest.raises(psycopg.OperationalError):
                    sink.flush()
        assert sink.pending_on_disk
        server.launch()
        sink.write(second[: RATE // 2])
        deadline = time.monotonic() + 60  # as the recording thread does at a call's end:
        while True:  # the pool may still be backing off from the outage for a while
            try:
                sink.close()
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "the store never came back"
                time.sleep(0.5)
        with psycopg.connect(store.url) as conn:
            sizes = [size for (size,) in conn.execute(
                "SELECT length(pcm) FROM recording_chunks WHERE call_id = 'outage'"
                " ORDER BY seq")]
        assert sizes[0] == RATE * 4 and len(sizes) == 3
        assert max(sizes) <= CHUNK_MAX_BYTES and sum(sizes) == (151 * RATE + RATE // 2) * 4
        audio, _ = soundfile.read(io.BytesIO(store.recordings.read("outage")), dtype="int16")
        assert audio.shape == (151 * RATE + RATE // 2, 2)
        np.testing.assert_array_equal(audio[100 * RATE : 101 * RATE], second)


def test_the_store_reconnects_after_the_server_restarts(postgres_server: PostgresServer
                                                       ) -> None:
    """A restart (failover, upgrade) drops every pooled connection: the calls made while the
    server is down fail with a clear error, and the next ones after it is back work on
    fresh connections, the writes before the restart all there."""
    with store_on_its_own_server() as (server, store):
        store.start_call(opened("before"))
        sink = store.recordings.open_writer("before", RATE, 1)
        sink.write(np.ones(RATE, dtype=np.int16))
        sink.flush()
        server.shut_down()
        with pytest.raises(psycopg.OperationalError):
            store.get_call("before")
        server.launch()
        sink.write(np.ones(RATE, dtype=np.int16))
        sink.close()  # the recording goes on where it was
        store.start_call(opened("after"))
        assert [c.call_id for c in store.list_calls()] == ["after", "before"]
        audio, _ = soundfile.read(io.BytesIO(store.recordings.read("before")))
        assert len(audio) == 2 * RATE


def test_a_live_write_waits_out_a_database_restart(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture,
) -> None:
    """While the database restarts, the store hop tries a live call's writes again in order
    (stored late, not lost), says so once in the log and on `on_state`, and gives up only
    after `retry_for_s`."""
    server = start_postgres(binaries_dir())  # its own: the shared one stays up
    states: list[bool] = []
    heard = UtteranceAnalysis(channel=Channel.CUSTOMER, start=1.0, end=2.5, lang="ru",
                              text="Я жду уже час", sentiment=Sentiment(0.7, 0.2, 0.1))
    try:
        store = PgCallStore(server.create_database())
        hop = StoreHop(store, retry_for_s=30.0, on_state=states.append)
        try:
            asyncio.run(hop(store.start_call, opened("during")))
            server.shut_down()
            # longer than the pool's own wait for a connection (WAIT_FOR_CONNECTION_S)
            back = threading.Timer(WAIT_FOR_CONNECTION_S + 3.0, server.launch)
            back.start()
            seq = asyncio.run(hop(store.add_utterance, "during", heard))
            back.join()
            assert seq == 0 and states == [False, True]
            (stored,) = asyncio.run(hop(store.get_call, "during")).utterances
            assert stored.text == heard.text
            assert "the store is unreachable" in caplog.text
            assert "reachable again" in caplog.text and server.url() not in caplog.text

            impatient = StoreHop(store, retry_for_s=1.0)
            server.shut_down()
            try:
                with pytest.raises(psycopg.OperationalError):
                    asyncio.run(impatient(store.get_call, "during"))
            finally:
                server.launch()
                impatient._executor.shutdown(wait=True)
        finally:
            hop.close()
    finally:
        server.stop()


def test_open_store_picks_the_backend_by_the_setting(tmp_path: Path, pg_url: str) -> None:
    embedded = open_store(Settings(data_dir=tmp_path / "data"))
    assert isinstance(embedded, CallStore) and (tmp_path / "data" / "calls.sqlite3").exists()
    embedded.close()
    shared = open_store(Settings(data_dir=tmp_path / "unused", database_url=pg_url))
    assert isinstance(shared, PgCallStore) and not (tmp_path / "unused").exists()
    shared.close()


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://u@127.0.0.1/db", "must be a postgresql://"),
    ("127.0.0.1:5432/db", "must be a postgresql://"),
    ("postgresql://u:secret-pw@127.0.0.1:99999/db", "malformed"),
    ("postgresql://u:secret-pw@127.0.0.1:1/db", "127.0.0.1:1/db: connection failed"),
])
def test_a_bad_or_unreachable_database_is_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreUnavailableError, match=message) as info:
        open_store(Settings(database_url=url))
    assert "secret-pw" not in str(info.value)
    assert "secret-pw" not in describe_url(url)


def test_a_missing_database_names_itself(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreUnavailableError, match='database "nowhere" does not exist'):
        open_store(Settings(database_url=postgres_server.url("nowhere")))


def test_serve_stops_with_one_line_on_an_unreachable_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--data-dir", str(tmp_path),
         "--port", "1"],
        env={**_env(), "SENTIMENT_DATABASE_URL": "postgresql://svc:hunter2@127.0.0.1:1/calls"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot use the database postgresql://svc@127.0.0.1:1")
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_DATABASE")}
