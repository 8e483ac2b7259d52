"""Load and soak harness (run by hand, not in CI; loopback only, bounded in time).

    python -m tools.loadtest --connections 50 --minutes 5     # load
    python -m tools.loadtest --connections 8 --minutes 60     # soak

Starts `sentiment-svc serve` as a child process and keeps `--connections` ingest
connections busy, each streaming the bundled calls one after another in real time, until
the time is up (calls in flight are finished, nothing new starts). Prints errors (any call
that did not end with close code 1000 and a call_ended event), final-transcript latency
p50/p95, calls completed, and the service's memory (RSS): once a minute, once warm (after a
tenth of the run, 1 to 10 minutes) and at the end, with the growth in percent. The last
line is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sentiment_svc.client import stream_call
from sentiment_svc.protocols.clients import ClientCall
from tools.bench import NO_ADMISSION_BY_LOAD, _load_calls, _wait_ready, free_port


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _drive(url: str, connections: int, seconds: float, pid: int) -> dict:
    templates = _load_calls()
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list[str] = []
    completed = 0
    rss: dict[str, float] = {}

    series: list[float] = []  # RSS once a minute

    async def sample_memory() -> None:
        # "warm": after the first tenth of the run (at least a minute, at most ten), when
        # the allocator pools and caches have grown to their working size.
        warm_at = min(600.0, max(60.0, seconds / 10), seconds / 2)
        started = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
            series.append(round(_rss_mb(pid)))
            if "warm" not in rss and time.monotonic() - started >= warm_at:
                rss["warm"] = _rss_mb(pid)

    async def worker(index: int) -> None:
        nonlocal completed
        turn = 0
        while time.monotonic() < deadline:
            template = templates[(index + turn) % len(templates)]
            turn += 1
            call = ClientCall(f"load-{index}-{turn}-{time.time_ns()}", f"load-op-{index}",
                              template.customer, template.operator, template.sample_rate)
            arrivals: list[tuple[float, dict]] = []
            try:
                result = await stream_call(
                    call, url, "native",
                    on_event=lambda source, e, seen=arrivals: seen.append((time.monotonic(), e))
                    if source == "feed" else None,
                )
            except Exception as error:  # counted, never fatal: the run goes on
                errors.append(f"{call.call_id}: {error!r}")
                continue
            ended = any(e["type"] == "call_ended" for _, e in arrivals)
            if result.close_code != 1000 or not ended or result.first_sent_at is None:
                errors.append(f"{call.call_id}: close {result.close_code}, ended={ended}")
                continue
            completed += 1
            latencies.extend(t - result.first_sent_at - e["end"]
                             for t, e in arrivals if e["type"] == "utterance")

    await asyncio.gather(sample_memory(), *(worker(i) for i in range(connections)))
    rss["end"] = _rss_mb(pid)
    growth = (rss["end"] - rss["warm"]) / rss["warm"] * 100 if rss.get("warm") else None
    return {
        "connections": connections,
        "minutes": round(seconds / 60, 1),
        "calls_completed": completed,
        "errors": len(errors),
        "error_samples": errors[:5],
        "final_p50_s": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "final_p95_s": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "rss_warm_mb": round(rss.get("warm", 0.0)),
        "rss_end_mb": round(rss["end"]),
        "rss_growth_pct": None if growth is None else round(growth, 1),
        "rss_per_minute_mb": series,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args(argv)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
         "--data-dir", tempfile.mkdtemp(prefix="sentiment-load-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **NO_ADMISSION_BY_LOAD},  # every call taken: what N of them cost
    )
    try:
        _wait_ready(port, server)
        report = asyncio.run(
            _drive(f"ws://127.0.0.1:{port}", args.connections, args.minutes * 60, server.pid)
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
