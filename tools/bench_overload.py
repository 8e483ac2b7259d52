"""Benchmark: one instance offered more calls than it can serve (admission by load).

    python -m tools.bench_overload --capacity N [--offer 1.5] [--seconds 180]
        [--retry-s 5] [--local-engines | --database-url URL] [--redis-url URL]

`--capacity` is the instance's measured capacity (`tools.bench`: the largest N whose alert p95
stays <= 2 s). It keeps round(offer x N) connections busy for `--seconds`, each streaming
the benchmark's calls one after another in real time as `tools.bench` does; a call refused
at its start (close code 1013: "retry on another instance") is counted, and its connection
offers the next call after `--retry-s`, as a platform or balancer would send it elsewhere
and come back. Prints the admitted calls' alert and final-transcript latency, how many calls
were admitted and refused (and at which point in the run), how many admitted calls did not
end cleanly (dropped mid-call), and for each recording the fewest and most final
transcripts its admitted calls got (equal when no admitted call lost any). The last line
is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sentiment_svc.client import stream_call
from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.protocols.clients import ClientCall
from tools.bench import (
    CALLS,
    _load_calls,
    _proc_cpu_seconds,
    add_engine_arguments,
    engines_from_arguments,
    start_service,
)
from tools.bench_levels import ALERT_P95_TARGET_S, live_calls, percentile, start_offsets

DEFAULT_OFFER = 1.5
DEFAULT_SECONDS = 180.0
DEFAULT_RETRY_S = 5.0


@dataclass
class OverloadResult:
    connections: int
    alert_latencies: list[float] = field(default_factory=list)
    final_latencies: list[float] = field(default_factory=list)
    admitted: int = 0
    refused_at: list[float] = field(default_factory=list)  # seconds into the run
    dropped: list[str] = field(default_factory=list)  # admitted calls that did not end cleanly
    finals_by_recording: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    call_spans: list[tuple[float, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    backlog_samples: list[float] = field(default_factory=list)  # /readyz, once a second
    load_samples: list[float] = field(default_factory=list)  # its recognizer_load
    alert_times: list[float] = field(default_factory=list)  # seconds into the run

    def row(self) -> dict:
        peak, mean = live_calls(self.call_spans)
        return {
            "connections": self.connections,
            "admitted": self.admitted,
            "refused": len(self.refused_at),
            "first_refusal_s": round(min(self.refused_at), 1) if self.refused_at else None,
            "alerts": len(self.alert_latencies),
            "alert_p50_s": percentile(self.alert_latencies, 50),
            "alert_p95_s": percentile(self.alert_latencies, 95),
            "alert_max_s": percentile(self.alert_latencies, 100),
            "final_p50_s": percentile(self.final_latencies, 50),
            "final_p95_s": percentile(self.final_latencies, 95),
            "dropped": len(self.dropped),
            "dropped_calls": self.dropped[:5],
            "finals_min_max_by_recording": {
                name: [min(counts), max(counts)]
                for name, counts in sorted(self.finals_by_recording.items())
            },
            "live_calls_peak": peak,
            "live_calls_mean": mean,
            "service_cores": round(self.cpu_seconds / self.wall_seconds, 2)
            if self.wall_seconds else None,
            "backlog_p50_p95_max_s": [percentile(self.backlog_samples, q) for q in (50, 95, 100)],
            "recognizer_load_p50_max": [percentile(self.load_samples, q) for q in (50, 100)],
            # after the first minute: once the burst of calls at the start has passed
            "alert_p95_after_60s": percentile([latency for latency, at in zip(
                self.alert_latencies, self.alert_times, strict=True) if at > 60], 95),
        }


async def _offer(url: str, templates: list[ClientCall], connections: int, seconds: float,
                 retry_s: float, pid: int) -> OverloadResult:
    result = OverloadResult(connections)
    begun = time.monotonic()
    cpu_before = _proc_cpu_seconds(pid)
    until = begun + seconds

    async def one(index: int, turn: int, template_index: int) -> None:
        template = templates[template_index]
        call = ClientCall(f"over-{index}-{turn}-{time.time_ns()}", f"over-op-{index}",
                          template.customer, template.operator, template.sample_rate)
        feed: list[tuple[float, dict]] = []
        started = time.monotonic()
        outcome = await stream_call(call, url, "native", on_event=lambda source, e: feed.append(
            (time.monotonic(), e)) if source == "feed" else None)
        if outcome.close_code == CloseCode.TRY_AGAIN_LATER and not outcome.feed:
            result.refused_at.append(started - begun)
            await asyncio.sleep(retry_s)
            return
        result.admitted += 1
        result.call_spans.append((started, time.monotonic()))
        ended = [e for _, e in feed if e["type"] == "call_ended"]
        if (outcome.close_code != CloseCode.NORMAL or outcome.first_sent_at is None
                or not ended):
            result.dropped.append(f"{call.call_id}: {outcome.close_code} {outcome.close_reason}")
            return
        finals = 0
        for arrived, event in feed:
            if event["type"] == "alert":
                result.alert_latencies.append(arrived - outcome.first_sent_at - event["t"])
                result.alert_times.append(arrived - begun)
            elif event["type"] == "utterance":
                finals += 1
                result.final_latencies.append(arrived - outcome.first_sent_at - event["end"])
        result.finals_by_recording[CALLS[template_index][0].name].append(finals)

    async def connection(index: int, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        turn = 0
        while time.monotonic() < until:
            await one(index, turn, (index + turn) % len(templates))
            turn += 1

    async def sample_backlog() -> None:
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    reply = await client.get(url.replace("ws://", "http://") + "/readyz")
                    load = reply.json()
                    result.backlog_samples.append(float(load["backlog_s"]))
                    if "recognizer_load" in load:
                        result.load_samples.append(float(load["recognizer_load"]))
                await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_backlog())
    await asyncio.gather(*(connection(i, delay) for i, delay
                           in enumerate(start_offsets(connections, len(templates)))))
    sampler.cancel()
    result.wall_seconds = time.monotonic() - begun
    result.cpu_seconds = _proc_cpu_seconds(pid) - cpu_before
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, required=True, metavar="N",
                        help="the instance's measured capacity in calls (tools.bench)")
    parser.add_argument("--offer", type=float, default=DEFAULT_OFFER, metavar="X",
                        help=f"calls offered, times the capacity (default {DEFAULT_OFFER})")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"how long calls are offered (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--retry-s", type=float, default=DEFAULT_RETRY_S,
                        help="a refused connection offers its next call after this"
                             f" (default {DEFAULT_RETRY_S:g})")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    if args.capacity < 1 or args.offer <= 0 or args.seconds <= 0:
        parser.error("--capacity, --offer and --seconds must be positive")
    connections = math.ceil(args.capacity * args.offer)
    with contextlib.ExitStack() as stack:
        env = engines_from_arguments(args, stack)
        server, port = start_service(Path(tempfile.mkdtemp(prefix="sentiment-overload-")), env)
        try:
            templates = _load_calls()
            url = f"ws://127.0.0.1:{port}"
            asyncio.run(_offer(url, templates[:1], 1, 1, 0, server.pid))  # warm-up call
            result = asyncio.run(_offer(url, templates, connections, args.seconds,
                                        args.retry_s, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=60)
    row = result.row()
    print(json.dumps(row), flush=True)
    verdict = {
        "capacity": args.capacity, "offer": args.offer, "engines": sorted(env) or "embedded",
        "alert_p95_s": row["alert_p95_s"], "admitted": row["admitted"],
        "refused": row["refused"], "dropped": row["dropped"],
        "finals_complete": all(low == high for low, high
                               in row["finals_min_max_by_recording"].values()),
    }
    verdict["passes"] = bool(
        row["alert_p95_s"] is not None and row["alert_p95_s"] <= ALERT_P95_TARGET_S
        and row["refused"] and not row["dropped"] and verdict["finals_complete"]
    )
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
