"""Benchmark: does QA replay load slow a live call's alerts?

    python -m tools.bench_replays [--replays 20] [--speed 8] [--rounds 2]

Starts `sentiment-svc serve` as a child process (open, loopback) with the per-viewer replay
cap raised to the total cap, so that the total cap (`SENTIMENT_MAX_REPLAYS`) is what limits
the replays. It streams the benchmark's three escalating calls once (warm-up; they are then
stored with their recordings), then per round: the three calls one after another with
nothing else running ("alone"), then the same while `--replays` viewers keep asking for
replays of the stored calls at `--speed` ("with replays": a refused viewer (1013) asks again
a second later, a finished one starts the next replay). Alert latency is measured as in
`tools.bench` (end of the triggering utterance in the audio -> alert on the operator feed).
Prints each phase, then the p50/p95 alone and with replays over all rounds, the difference
of the p95s, and how many replays ran and were refused. The last line is a JSON object.
Linux only (reads /proc for the child's CPU).
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
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import websockets

from tools.bench import _load_calls, _proc_cpu_seconds, _run, _wait_ready, free_port

REFUSED_RETRY_S = 1.0
TARGET_P95_INCREASE_S = 0.2


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


async def _viewer(ws: str, call_ids: list[str], index: int, speed: float,
                  stop: asyncio.Event, outcomes: Counter[str]) -> None:
    """Ask for replays, one after another, until `stop`: counts how each ended."""
    turn = 0
    while not stop.is_set():
        call_id = call_ids[(index + turn) % len(call_ids)]
        turn += 1
        try:
            async with websockets.connect(f"{ws}/v1/calls/{call_id}/replay?speed={speed:g}",
                                          max_size=2**22) as socket:
                receiving = asyncio.ensure_future(_drain(socket))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not receiving.done():  # the round is over: leave, which cancels it
                    receiving.cancel()
                    outcomes["left"] += 1
                    return
                code = socket.close_code
        except (OSError, websockets.WebSocketException):
            code = None
        outcomes[{1000: "finished", 1013: "refused"}.get(code, f"closed {code}")] += 1
        if code != 1000:
            await asyncio.sleep(REFUSED_RETRY_S)


async def _drain(socket) -> None:
    try:
        async for _ in socket:
            pass
    except websockets.ConnectionClosed:
        pass


async def _phase(port: int, pid: int, replays: int, speed: float,
                 call_ids: list[str]) -> tuple[list[float], Counter[str], float]:
    ws = f"ws://127.0.0.1:{port}"
    stop = asyncio.Event()
    outcomes: Counter[str] = Counter()
    viewers = [asyncio.create_task(_viewer(ws, call_ids, i, speed, stop, outcomes))
               for i in range(replays)]
    if viewers:
        await asyncio.sleep(2.0)  # the replays are running before the live call starts
    cpu_before, wall_before = _proc_cpu_seconds(pid), time.monotonic()
    live = await _run(ws, _load_calls(), 1, pid)
    cores = (_proc_cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
    stop.set()
    await asyncio.gather(*viewers)
    if live.errors:
        raise SystemExit(f"{live.errors} live calls failed")
    return live.alert_latencies, outcomes, cores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=20, help="viewers asking for replays")
    parser.add_argument("--speed", type=float, default=8.0, help="replay speed (1-8)")
    parser.add_argument("--rounds", type=int, default=2, help="alone/with-replays pairs")
    args = parser.parse_args(argv)
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="sentiment-bench-replays-"))
    env = {**os.environ, "SENTIMENT_MAX_REPLAYS_PER_TOKEN": os.environ.get(
        "SENTIMENT_MAX_REPLAYS", "4")}
    server = subprocess.Popen(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    alone: list[float] = []
    beside: list[float] = []
    outcomes: Counter[str] = Counter()
    try:
        _wait_ready(port, server)
        asyncio.run(_run(f"ws://127.0.0.1:{port}", _load_calls(), 1, server.pid))  # warm-up
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/calls", timeout=10).json()["calls"]
        call_ids = [call["call_id"] for call in listed]
        for round_index in range(args.rounds):
            for replays, into in ((0, alone), (args.replays, beside)):
                latencies, counts, cores = asyncio.run(
                    _phase(port, server.pid, replays, args.speed, call_ids))
                into.extend(latencies)
                outcomes.update(counts)
                print(json.dumps({
                    "round": round_index + 1, "replay_viewers": replays,
                    "alerts": len(latencies), "alert_p50_s": _percentile(latencies, 50),
                    "alert_p95_s": _percentile(latencies, 95),
                    "service_cores": round(cores, 2), "replays": dict(counts),
                }), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    p95_alone, p95_beside = _percentile(alone, 95), _percentile(beside, 95)
    increase = None if p95_alone is None or p95_beside is None else round(
        p95_beside - p95_alone, 3)
    print(json.dumps({
        "replay_viewers": args.replays, "speed": args.speed, "rounds": args.rounds,
        "alone_alert_p50_s": _percentile(alone, 50), "alone_alert_p95_s": p95_alone,
        "with_replays_alert_p50_s": _percentile(beside, 50),
        "with_replays_alert_p95_s": p95_beside,
        "p95_increase_s": increase,
        "within_target": increase is not None and increase <= TARGET_P95_INCREASE_S,
        "replays": dict(outcomes),
    }))


if __name__ == "__main__":
    main()
