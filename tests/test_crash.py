"""Crash safety: `kill -9` the service in the middle of a call, then start it again."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import soundfile

from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import load_client_call, stream_call
from tests.conftest import SCRIPTED_AUDIO
from tools.bench import free_port


def serve(data_dir, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        assert process.poll() is None, "the service exited while starting"
        time.sleep(0.3)
    process.kill()
    raise AssertionError("the service did not become ready")


def test_kill_9_mid_call_loses_nothing_already_emitted(tmp_path):
    port = free_port()
    server = serve(tmp_path, port)
    call = load_client_call(SCRIPTED_AUDIO / "escalating_ru.wav", CustomerChannel.MONO,
                            "crash-call", "op-crash", "ru")
    seen: list[dict] = []
    first_alert = threading.Event()

    def on_event(source: str, event: dict) -> None:
        if source == "feed" and event["type"] in ("utterance", "alert"):
            seen.append(event)
            if event["type"] == "alert":
                first_alert.set()

    streamer = threading.Thread(
        target=lambda: asyncio.run(stream_call(call, f"ws://127.0.0.1:{port}", "native",
                                               on_event=on_event)),
        daemon=True,
    )
    started = time.monotonic()
    streamer.start()
    try:
        assert first_alert.wait(60), "no alert before the kill"
        time.sleep(1.5)  # let the recording's last flush and the event writes settle
        killed_after = time.monotonic() - started
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    streamer.join(timeout=30)
    emitted = list(seen)

    server = serve(tmp_path, port)
    try:
        detail = httpx.get(f"http://127.0.0.1:{port}/v1/calls/crash-call", timeout=10).json()
        recording = httpx.get(f"http://127.0.0.1:{port}/v1/calls/crash-call/recording",
                              timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=60)

    assert detail["status"] == "interrupted"
    stored_texts = [u["text"] for u in detail["utterances"]]
    for event in emitted:
        if event["type"] == "utterance":
            assert event["text"] in stored_texts
    stored_alerts = {a["alert_id"] for a in detail["alerts"]}
    assert {e["alert_id"] for e in emitted if e["type"] == "alert"} <= stored_alerts
    assert recording.status_code == 200
    audio, rate = soundfile.read(io.BytesIO(recording.content))
    # Intact up to the last flushed second: at least what was sent a second before the kill.
    assert len(audio) / rate >= killed_after - 2.5
    assert len(audio) / rate <= killed_after + 1.0
