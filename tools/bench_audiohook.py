"""Benchmark: Genesys' AudioHook reference client, many signed sessions at once.

    python -m tools.bench_audiohook [--sessions 20] [--runs 1] [--connection-rate 50]

Starts `sentiment-svc serve` as a child process with an AudioHook API key and client secret
(``platforms.audiohook``), then runs the reference client (`tools.audiohook_reference`)
with ``--session-count N``: N signed sessions of the stereo scripted call
(``stereo_apology_ru.wav``, 29 s, both speakers talking) start within a second (the client's
default rate, 50 a second) and stream in real time. Per run it prints:

- sessions opened and closed (open -> opened -> audio -> close -> closed), and how many
  warnings or errors the client logged;
- alert latency from the service's own metrics (``sentiment_alert_latency_seconds``, end of
  the triggering utterance in the audio to the alert being published): the share within 2 s
  (exact: 2 s is a bucket bound) and a p95 interpolated inside its bucket;
- alert latency as Genesys sees it: when the client logged the ``agentassist`` event, less
  when its session opened and the suggestion's ``position`` (the client sends audio in real
  time from the open), p50/p95 over the alerts that reached a session before it closed;
- alerts stored against alerts delivered (an alert still being recognised when the client
  closes is stored, but AudioHook allows no event after ``closed``).

The last line is a JSON object of the last run. Linux; needs node (the reference client).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tools import audiohook_reference as reference
from tools.bench import NO_ADMISSION_BY_LOAD, _wait_ready, free_port

ROOT = Path(__file__).resolve().parents[1]
CALL = ROOT / "audio_samples" / "scripted" / "stereo_apology_ru.wav"
TARGET_S = 2.0
HISTOGRAM = "sentiment_alert_latency_seconds"


def latency_buckets(url: str) -> dict[float, float]:
    """The alert latency histogram's cumulative counts by upper bound."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{HISTOGRAM}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def histogram_p95(before: dict[float, float], after: dict[float, float]) -> tuple[int, float,
                                                                                  float | None]:
    """(alerts, share within TARGET_S, p95 interpolated in its bucket) over the run."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0.0
    if not total:
        return 0, 0.0, None
    within = next(count for bound, count in counts if bound == TARGET_S) / total
    rank, lower, below = 0.95 * total, 0.0, 0.0
    for bound, count in counts:
        if count >= rank:
            if bound == float("inf"):
                return int(total), within, lower  # beyond the last bound: its lower edge
            share = (rank - below) / (count - below) if count > below else 1.0
            return int(total), within, round(lower + share * (bound - lower), 3)
        lower, below = bound, count
    return int(total), within, None


def client_latencies(run: reference.ClientRun) -> list[float]:
    opened = {r.session: r.t for r in run.messages("onOpenedMessage - Session open!")}
    latencies = []
    for record, parameters in reference.events(run):
        for entity in parameters["entities"]:
            if entity["type"] != "agentassist" or record.session not in opened:
                continue
            for suggestion in entity["data"].get("suggestions", []):
                position = float(suggestion["position"][2:-1])
                latencies.append(record.t - opened[record.session] - position)
    return latencies


def stored_alerts(url: str, token: str) -> int:
    reply = httpx.get(f"{url}/v1/calls", params={"limit": 200}, timeout=10,
                      headers={"Authorization": f"Bearer {token}"})
    reply.raise_for_status()
    return sum(call["alert_count"] for call in reply.json()["calls"])


def wait_for_calls_to_end(url: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{url}/readyz", timeout=10).json().get("live_calls", 0):
        if time.monotonic() > deadline:
            raise SystemExit("calls were still live long after their sessions closed")
        time.sleep(0.5)


def run_once(url: str, uri: str, key: str, secret: str, token: str, sessions: int,
             rate: float, log_to: Path | None = None) -> dict:
    before, stored_before = latency_buckets(url), stored_alerts(url, token)
    run = reference.run_client(uri, CALL, api_key=key, client_secret=secret,
                               session_count=sessions, connection_rate=rate)
    wait_for_calls_to_end(url)  # a closed session's last audio is still being recognised
    alerts, within, p95 = histogram_p95(before, latency_buckets(url))
    seen = client_latencies(run)
    if log_to is not None:
        log_to.write_text(run.log, encoding="utf-8")
    return {
        "sessions": sessions,
        "opened": len(run.messages("onOpenedMessage - Session open!")),
        "closed": len(run.messages("onClosedMessage - Session closed")),
        "client_problems": len(run.problems), "client_exit": run.returncode,
        "alerts_stored": stored_alerts(url, token) - stored_before,
        "alert_latency_count": alerts, "alert_within_2s_share": round(within, 3),
        "alert_p95_s": p95,
        "alerts_delivered": len(seen),
        "delivered_p50_s": round(float(np.percentile(seen, 50)), 3) if seen else None,
        "delivered_p95_s": round(float(np.percentile(seen, 95)), 3) if seen else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--connection-rate", type=float, default=50.0,
                        help="sessions started per second (the reference client's option)")
    parser.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                        help="write each run's client log there")
    args = parser.parse_args(argv)
    if reason := reference.missing():
        raise SystemExit(reason)
    key, token = "bench-audiohook-" + secrets.token_hex(8), "qa-" + secrets.token_hex(12)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="sentiment-bench-audiohook-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(f"tokens:\n  - {{role: qa, token: {token}}}\nplatforms:\n"
                          f"  audiohook:\n    - {{name: bench, api_key: {key}, "
                          f"client_secret: \"{secret}\"}}\n", encoding="utf-8")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
             "--data-dir", str(Path(folder) / "data"), "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, **NO_ADMISSION_BY_LOAD},  # every call taken: what N of them cost
        )
        try:
            _wait_ready(port, server)
            result: dict = {}
            for index in range(args.runs):
                log_to = args.keep_logs / f"client-{index + 1}.log" if args.keep_logs else None
                result = run_once(url, f"ws://127.0.0.1:{port}/v1/audiohook", key, secret,
                                  token, args.sessions, args.connection_rate, log_to)
                print(f"run {index + 1}: " + ", ".join(f"{k} {v}" for k, v in result.items()),
                      flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
