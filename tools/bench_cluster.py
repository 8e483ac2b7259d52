"""Benchmark: a cluster of two instances behind nginx, each pinned to one core, on a
throwaway PostgreSQL and Redis; or, with `--single`, one instance on all cores on the same
engines, for comparison.

    python -m tools.bench_cluster --calls N [--single]

Starts PostgreSQL (fsync on) and Redis on loopback, the instances (`SENTIMENT_DATABASE_URL`,
`SENTIMENT_REDIS_URL`; `taskset -c 0` and `-c 1`), and nginx running `deploy/nginx.conf`
(least_conn, websocket upgrades) in front of them, then runs `tools.bench`'s level of N calls
through nginx (admission by load off, as in `tools.bench`; a pinned instance sizes its
recognition workers to its one core): each call's ingest socket and its operator's feed go
wherever nginx sends them, so an operator's feed is often on the other instance. A
supervisor wall (the supervisor feed) is open on every instance; each event on the walls
(call started, alert, call ended) is matched across them, and the wall lag is how much later
it reached the later wall than the earlier one (the instance running the call's): event on
one instance -> supervisor screen on the other, over Redis. Prints the level's row (alert
and final latency, as `tools.bench`) with the wall lag p50/p95/max and the CPU of every
instance; the last line is a JSON object. The benchmark's client shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

from tests.nginx_server import running_nginx
from tools.bench import (
    NO_ADMISSION_BY_LOAD,
    _load_calls,
    _proc_cpu_seconds,
    _run,
    engine_settings,
    start_service,
)
from tools.bench_engines import local_engines
from tools.bench_levels import percentile

WALL_EVENTS = ("call_started", "alert", "call_ended")
CUSTOMER_ID_SECRET = "bench-cluster-customer-id-secret-0123456789"
WALL_SETTLE_S = 3.0  # after the level, for the last events to cross to the other wall


class Wall:
    """One instance's supervisor feed, read in the background: (arrival, event) pairs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrivals: list[tuple[float, dict[str, Any]]] = []

    async def read(self) -> None:
        async with websockets.connect(f"{self.url}/v1/supervisor/feed", max_size=2**22) as feed:
            async for text in feed:
                event = json.loads(text)
                if event.get("type") in WALL_EVENTS:
                    self.arrivals.append((time.monotonic(), event))


def _key(event: dict[str, Any]) -> tuple[str, str, str]:
    return event["type"], event["call_id"], f"{event.get('alert_id')}@{event.get('t')}"


def wall_lags(walls: list[Wall]) -> list[float]:
    """For each event seen on every wall: its latest arrival minus its earliest."""
    seen: dict[tuple[str, str, str], list[float]] = {}
    for wall in walls:
        for arrived, event in wall.arrivals:
            seen.setdefault(_key(event), []).append(arrived)
    return [max(times) - min(times) for times in seen.values() if len(times) == len(walls)]


async def _level(front: str, instances: list[tuple[Any, int]], calls: int) -> dict:
    walls = [Wall(f"ws://127.0.0.1:{port}") for _, port in instances]
    readers = [asyncio.create_task(wall.read()) for wall in walls]
    await asyncio.sleep(1.0)  # the walls are subscribed before the first call
    cpu_before = [_proc_cpu_seconds(server.pid) for server, _ in instances]
    started = time.monotonic()
    result = await _run(front, _load_calls(), calls, instances[0][0].pid)
    wall_s = time.monotonic() - started
    cpu = [_proc_cpu_seconds(server.pid) - before
           for (server, _), before in zip(instances, cpu_before, strict=True)]
    await asyncio.sleep(WALL_SETTLE_S)
    for reader in readers:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
    row = result.row()
    lags = wall_lags(walls) if len(walls) > 1 else []

    return {
        "instances": len(instances), "calls": calls, "alerts": row["alerts"],
        "alert_p50_s": row["alert_p50_s"], "alert_p95_s": row["alert_p95_s"],
        "final_p50_s": row["final_p50_s"], "final_p95_s": row["final_p95_s"],
        "errors": row["errors"], "live_calls_peak": row["live_calls_peak"],
        "wall_events_matched": len(lags), "wall_lag_p50_s": percentile(lags, 50),
        "wall_lag_p95_s": percentile(lags, 95), "wall_lag_max_s": percentile(lags, 100),
        "service_cores_each": [round(seconds / wall_s, 2) for seconds in cpu],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, required=True, metavar="N")
    parser.add_argument("--single", action="store_true",
                        help="one instance on all cores instead of two pinned to one each")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sentiment-cluster-"))
    with contextlib.ExitStack() as stack:
        database_url, redis_url = stack.enter_context(local_engines())
        names = ["bench-a"] if args.single else ["bench-a", "bench-b"]
        instances = []
        for index, name in enumerate(names):  # one at a time: model loads starve each other
            env = {**NO_ADMISSION_BY_LOAD, **engine_settings(database_url, redis_url),
                   "SENTIMENT_INSTANCE_ID": name,
                   "SENTIMENT_CUSTOMER_ID_SECRET": CUSTOMER_ID_SECRET}
            server, port = start_service(work / name, env,
                                         cores=None if args.single else str(index),
                                         log=work / f"{name}.log")
            stack.callback(server.wait, 60)
            stack.callback(server.terminate)
            instances.append((server, port))
        nginx = stack.enter_context(running_nginx([port for _, port in instances], work))
        # One call first, not counted (lazy initialisation), as tools.bench does.
        asyncio.run(_run(nginx.ws, _load_calls(), 1, instances[0][0].pid))
        row = asyncio.run(_level(nginx.ws, instances, args.calls))
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
