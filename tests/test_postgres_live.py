"""The service on PostgreSQL end to end: a real call streamed over the websocket to a service
started with ``SENTIMENT_DATABASE_URL``, then read over REST from a second `serve` process
on the same database (another instance of the cluster, its own empty data directory), which
also replays and erases it; and an instance killed with ``kill -9`` mid-call, whose call a
survivor closes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import soundfile

from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import StreamResult, load_client_call, stream_call
from sentiment_svc.domain.vocabulary import CallStatus
from sentiment_svc.storage.postgres import PgCallStore
from tests.conftest import ANGRY_CALL, SCRIPTED_AUDIO
from tests.live_server import start_server
from tests.pg_server import binaries_dir, start_postgres
from tools.bench import free_port

START_TIMEOUT_S = 180


@contextlib.contextmanager
def serve(database_url: str, data_dir: Path, instance_id: str, *, ready: bool = False
          ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `sentiment-svc serve` process on the database; yields its URL once it answers
    (/healthz, or /readyz with `ready`: models loaded, calls taken)."""
    port = free_port()
    env = {**os.environ, "SENTIMENT_DATABASE_URL": database_url,
           "SENTIMENT_INSTANCE_ID": instance_id}
    process = subprocess.Popen(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
         "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                probe = httpx.get(f"{url}/{'readyz' if ready else 'healthz'}", timeout=2)
                if probe.status_code == 200:
                    break
            assert process.poll() is None, "the service exited while starting"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.3)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def test_a_call_on_one_instance_is_read_from_another(tmp_path: Path, pg_url: str) -> None:
    live = start_server(tmp_path / "a", database_url=pg_url, instance_id="inst-a")
    try:
        call = load_client_call(ANGRY_CALL, CustomerChannel.MONO, "pg-call", "op-pg", "auto")
        result = asyncio.run(stream_call(call, live.ws, "native", speed=2.0))
    finally:
        live.stop()
    feed_utterances = [e["text"] for e in result.feed if e["type"] == "utterance"]
    feed_alerts = [e["alert_id"] for e in result.feed if e["type"] == "alert"]
    assert feed_utterances and feed_alerts
    assert result.feed[-1]["type"] == "call_ended"
    assert not (tmp_path / "a" / "calls.sqlite3").exists()  # nothing went to SQLite

    with serve(pg_url, tmp_path / "b", "inst-b", ready=True) as (url, _):
        detail = httpx.get(f"{url}/v1/calls/pg-call", timeout=10).json()
        listed = httpx.get(f"{url}/v1/calls", params={"text": feed_utterances[0]},
                           timeout=10).json()
        wav = httpx.get(f"{url}/v1/calls/pg-call/recording", timeout=10)
        replayed = asyncio.run(_replay(url.replace("http://", "ws://") + "/v1/calls/pg-call"))
        erased = httpx.delete(f"{url}/v1/calls/pg-call", timeout=10)
        after = httpx.get(f"{url}/v1/calls/pg-call", timeout=10)
    assert detail["status"] == "completed" and detail["instance_id"] == "inst-a"
    assert [u["text"] for u in detail["utterances"]] == feed_utterances
    assert [a["alert_id"] for a in detail["alerts"]] == feed_alerts
    assert [c["call_id"] for c in listed["calls"]] == ["pg-call"]
    assert wav.status_code == 200
    audio, rate = soundfile.read(io.BytesIO(wav.content), dtype="int16")
    assert rate == call.sample_rate
    assert abs(len(audio) / rate - len(call.customer) / call.sample_rate) < 0.5
    # replayed on instance B from the recording instance A wrote
    assert replayed[0]["type"] == "replay_started" and replayed[-1]["type"] == "replay_ended"
    replay_alerts = [e["action"] for e in replayed if e["type"] == "alert"]
    live_alerts = [e["action"] for e in result.feed if e["type"] == "alert"]
    assert replay_alerts and replay_alerts[0] == live_alerts[0]
    assert erased.status_code == 204 and after.status_code == 404  # erased from B
    survivor = PgCallStore(pg_url)
    try:
        assert survivor.get_call("pg-call") is None
        assert survivor.recordings.read("pg-call") is None
    finally:
        survivor.close()


async def _replay(call_url: str) -> list[dict]:
    import json

    import websockets

    async with websockets.connect(f"{call_url}/replay?speed=4") as socket:
        return [json.loads(message) async for message in socket]


def test_a_killed_instance_s_call_is_closed_by_a_survivor(tmp_path: Path, pg_url: str) -> None:
    """kill -9 mid-call: every utterance and alert it emitted is in the database, its
    recording is there up to its last flushed second, and the survivor's
    `mark_instance_interrupted` closes exactly its call."""
    call = load_client_call(SCRIPTED_AUDIO / "escalating_ru.wav", CustomerChannel.MONO,
                            "pg-crash", "op-crash", "ru")
    seen: list[dict] = []
    first_alert = threading.Event()

    def on_event(source: str, event: dict) -> None:
        if source == "feed" and event["type"] in ("utterance", "alert"):
            seen.append(event)
            if event["type"] == "alert":
                first_alert.set()

    with serve(pg_url, tmp_path / "k", "inst-doomed", ready=True) as (url, process):
        ws = url.replace("http://", "ws://")
        streamer = threading.Thread(
            target=lambda: asyncio.run(stream_call(call, ws, "native", on_event=on_event)),
            daemon=True,
        )
        started = time.monotonic()
        streamer.start()
        assert first_alert.wait(60), "no alert before the kill"
        time.sleep(1.5)  # the recording's next flush and the event writes
        killed_after = time.monotonic() - started
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    streamer.join(timeout=30)
    emitted = list(seen)

    survivor = PgCallStore(pg_url)
    try:
        assert survivor.get_call("pg-crash").status == "live"  # nobody closed it yet
        assert survivor.mark_instance_interrupted("inst-doomed", time.time()) == ["pg-crash"]
        detail = survivor.get_call("pg-crash")
        wav = survivor.recordings.read("pg-crash")
    finally:
        survivor.close()
    assert detail.status == "interrupted" and detail.instance_id == "inst-doomed"
    stored_texts = [u.text for u in detail.utterances]
    assert [e["text"] for e in emitted if e["type"] == "utterance"] == stored_texts[
        :sum(e["type"] == "utterance" for e in emitted)]
    assert {e["alert_id"] for e in emitted if e["type"] == "alert"} <= {
        a.alert_id for a in detail.alerts}
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    # a killed instance loses at most its last second (plus the kill's own timing)
    assert killed_after - 2.5 <= len(audio) / rate <= killed_after + 1.0
    with psycopg.connect(pg_url) as conn:
        (chunks,) = conn.execute(
            "SELECT COUNT(*) FROM recording_chunks WHERE call_id = 'pg-crash'").fetchone()
    assert chunks >= int(killed_after) - 3  # appended about once a second


def test_a_database_restart_mid_call_loses_nothing(tmp_path: Path) -> None:
    """PostgreSQL shut down for a few seconds while a call streams: the call goes on (its
    audio steps never wait for the database), `sentiment_store_up` reads 0 meanwhile, and
    once the database is back every utterance and alert the operator saw is stored, in
    order, and the recording is whole."""
    server = start_postgres(binaries_dir())  # its own: the shared one stays up
    try:
        url = server.create_database()
        live = start_server(tmp_path / "a", database_url=url, instance_id="inst-a")
        call = load_client_call(SCRIPTED_AUDIO / "escalating_ru.wav", CustomerChannel.MONO,
                                "pg-restart", "op-restart", "ru")

        def store_up() -> float | None:
            for line in httpx.get(f"{live.http}/metrics", timeout=5).text.splitlines():
                if line.startswith("sentiment_store_up "):
                    return float(line.split()[1])
            return None

        async def scenario() -> tuple[StreamResult, list[float | None]]:
            streaming = asyncio.create_task(stream_call(call, live.ws, "native"))
            await asyncio.sleep(8.0)
            await asyncio.to_thread(server.shut_down)
            seen = []
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline and 0.0 not in seen:  # a write met the outage
                seen.append(await asyncio.to_thread(store_up))
                await asyncio.sleep(0.5)
            await asyncio.to_thread(server.launch)
            return await streaming, seen

        try:
            result, seen = asyncio.run(scenario())
            back = store_up()
        finally:
            live.stop()
        if server.process is None or server.process.poll() is not None:
            server.launch()  # the scenario failed while it was down
        store = PgCallStore(url)
        try:
            detail = store.get_call("pg-restart")
            wav = store.recordings.read("pg-restart")
        finally:
            store.close()
    finally:
        server.stop()
    assert 0.0 in seen and back == 1.0
    assert result.close_code == 1000 and result.feed[-1]["type"] == "call_ended"
    feed_utterances = [e["text"] for e in result.feed if e["type"] == "utterance"]
    feed_alerts = [e["alert_id"] for e in result.feed if e["type"] == "alert"]
    assert len(feed_utterances) >= 5 and feed_alerts
    assert detail is not None and detail.status is CallStatus.COMPLETED
    assert [u.text for u in detail.utterances] == feed_utterances
    assert [a.alert_id for a in detail.alerts] == feed_alerts
    assert wav is not None
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert abs(len(audio) / rate - len(call.customer) / call.sample_rate) < 0.5
