"""Benchmark: many live calls against a real service process over loopback.

    python -m tools.bench [--calls 1,4,12 | --max-calls N] [--repeat K]
        [--skip-reference] [--local-engines | --database-url URL] [--redis-url URL]

Starts `sentiment-svc serve` as a child process and keeps N calls live at once for a
minute: N connections each stream calls in real time, one after another (real and scripted
recordings in turn, native protocol; copies of one recording start 2.5 s apart, or closer
so that all have started within 15 s), and finish the call they are in when the minute is
up; every operator feed is read. N = 1 streams the three calls that escalate one after
another, so that its latency has several alerts. Prints per N: alert latency p50/p95 (end
of the triggering utterance in the audio -> alert frame on the operator feed),
final-transcript latency p50/p95, how many calls were live at once (peak, mean), service
CPU seconds per second of speech (in total and per thread group), the cores the service
and the benchmark's own client kept busy, the recogniser's own metrics over the level
(batch sizes, early finals) and peak RSS.
Without `--calls` it runs 1, 4 and 12 calls, then searches upward for the largest N whose
alert p95 stays <= 2 s: doubling N until a level fails (or reaches `--max-calls`), then
halving the gap (`next_level`). With `--calls` it runs exactly those levels. Then it prints
the largest passing N, and a comparison of our recogniser with faster-whisper's own
`transcribe()` on the bundled prompts (WER, speed). The last line is a JSON object.
The client streams every call from this process on the same machine: where its
`client_cores` nears one, its own event loop is full and the limit found is partly its.
`--repeat K` runs each level K times and judges it by the medians (this virtual machine's
speed drifts 10-30 % between runs minutes apart, so one run is one sample). Each run also
reports the machine's speed around it (`encode_30s_cpu_s`, see `machine_speed`) and its CPU
figure scaled to the speed the targets were set at.
The service runs on the embedded default (SQLite, the in-process bus) unless given shared
engines: `--database-url`/`--redis-url`, or `--local-engines` for a throwaway PostgreSQL
(fsync on) and Redis started on loopback for the run.
Linux only (reads /proc for the child's CPU and memory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from sentiment_svc.asr.vocabulary import source_model_dir
from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import load_client_call, stream_call
from sentiment_svc.config import Settings
from sentiment_svc.protocols.clients import ClientCall
from sentiment_svc.threads import cpu_seconds_by_thread_name
from tools.bench_engines import local_engines
from tools.bench_levels import (
    ALERT_P95_TARGET_S,
    first_levels,
    live_calls,
    median_row,
    next_level,
    passes,
    percentile,
    speed_fields,
    start_offsets,
)
from tools.bench_windows import reference_comparison
from tools.machine_speed import SpeedGauge

ROOT = Path(__file__).resolve().parents[1]
CALLS = [  # (file, customer channel, trailing silence s)
    (ROOT / "audio_samples/real/tinkoff_voicekit_examples/negative_sample_8k.wav", "mono", 4.0),
    (ROOT / "audio_samples/scripted/escalating_ru.wav", "mono", 2.0),
    (ROOT / "audio_samples/scripted/stereo_ru.wav", "left", 1.0),
    (ROOT / "audio_samples/real/t-one_demo/audio_long.flac", "mono", 1.0),
    (ROOT / "audio_samples/scripted/sarcasm_ru.wav", "mono", 2.0),
    (ROOT / "audio_samples/scripted/escalating_uk.wav", "mono", 2.0),
]
# Each connection streams calls one after another and starts new ones for this long, then
# finishes the call it is in: N calls are live at once, not N calls that each end early.
LEVEL_S = 60.0
SINGLE_CALL_TEMPLATES = (0, 4, 1)  # the N=1 level: the angry, sarcasm and escalating calls
DEFAULT_LEVELS = (1, 4, 12)  # without --calls: these, then the search upward
SEARCH_MAX_CALLS = 256


@dataclass
class RunResult:
    calls: int
    alert_latencies: list[float] = field(default_factory=list)
    alert_sources: list[str] = field(default_factory=list)  # the recording of each alert
    final_latencies: list[float] = field(default_factory=list)
    speech_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cpu_by_thread: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    scheduler: dict[str, float] = field(default_factory=dict)  # metric deltas over the level
    call_spans: list[tuple[float, float]] = field(default_factory=list)  # monotonic s
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0  # this process: the calls' clients share the machine

    def row(self) -> dict:
        return {
            "calls": self.calls,
            "alerts": len(self.alert_latencies),
            "alert_p50_s": percentile(self.alert_latencies, 50),
            "alert_p95_s": percentile(self.alert_latencies, 95),
            "final_p50_s": percentile(self.final_latencies, 50),
            "final_p95_s": percentile(self.final_latencies, 95),
            "speech_s": round(self.speech_seconds, 1),
            "cpu_per_speech_s": round(self.cpu_seconds / self.speech_seconds, 3)
            if self.speech_seconds else None,
            "errors": self.errors,
            **dict(zip(("live_calls_peak", "live_calls_mean"), live_calls(self.call_spans),
                       strict=True)),
            # Cores busy on average: the service's, and the benchmark client's own (past
            # about one, the client's event loop is full and the latencies are partly its).
            "service_cores": round(self.cpu_seconds / self.wall_seconds, 2)
            if self.wall_seconds else None,
            "client_cores": round(self.client_cpu_seconds / self.wall_seconds, 2)
            if self.wall_seconds else None,
            "cpu_per_speech_s_by_thread": {
                name: round(seconds / self.speech_seconds, 3)
                for name, seconds in sorted(self.cpu_by_thread.items(), key=lambda i: -i[1])
                if seconds >= 0.01 * self.cpu_seconds
            } if self.speech_seconds else {},
            "scheduler": self.scheduler,
            # Which alerts set the tail: recording@seconds into it, latency.
            "slowest_alerts": sorted(
                ([source, round(latency, 2)] for source, latency
                 in zip(self.alert_sources, self.alert_latencies, strict=True)),
                key=lambda pair: -pair[1],
            )[:3],
        }


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a child service)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(data_dir: Path, env: dict[str, str] | None = None,
                  cores: str | None = None, log: Path | None = None,
                  ) -> tuple[subprocess.Popen, int]:
    """`sentiment-svc serve` as a child on a free loopback port, with extra environment
    (`SENTIMENT_*` settings) and, if `cores` is given (taskset's list, e.g. "0"), pinned to
    those cores; returns the process and its port once it is ready."""
    port = free_port()
    command = [sys.executable, "-m", "sentiment_svc.cli", "serve", "--port", str(port),
               "--data-dir", str(data_dir)]
    if cores is not None:
        command = ["taskset", "-c", cores, *command]
    server = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if log is None else log.open("wb"),
    )
    try:
        _wait_ready(port, server)
    except BaseException:
        server.kill()
        raise
    return server, port


# A level measures what N calls cost, so none of them is refused for load here; admission
# by load is measured by tools.bench_overload.
NO_ADMISSION_BY_LOAD = {"SENTIMENT_MAX_BACKLOG_S": "none", "SENTIMENT_MAX_RECOGNIZER_LOAD": "none"}


def engine_settings(database_url: str | None, redis_url: str | None) -> dict[str, str]:
    """The environment that points a service at shared engines (none: the embedded default)."""
    env = {}
    if database_url:
        env["SENTIMENT_DATABASE_URL"] = database_url
    if redis_url:
        env["SENTIMENT_REDIS_URL"] = redis_url
    return env


def engines_from_arguments(args: argparse.Namespace, stack: contextlib.ExitStack
                           ) -> dict[str, str]:
    """The service's environment for `add_engine_arguments`' options; local engines live
    as long as `stack`."""
    if args.local_engines:
        return engine_settings(*stack.enter_context(local_engines()))
    return engine_settings(args.database_url, args.redis_url)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    engines = parser.add_mutually_exclusive_group()
    engines.add_argument("--local-engines", action="store_true",
                         help="start a throwaway PostgreSQL and Redis on loopback and run the"
                              " service on them (tools.bench_engines)")
    engines.add_argument("--database-url", metavar="URL",
                         help="run the service on this PostgreSQL (default: embedded SQLite)")
    parser.add_argument("--redis-url", metavar="URL",
                        help="run the service on this Redis (default: the in-process bus)")


def _wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the service did not become ready")
        time.sleep(0.5)


SCHEDULER_SAMPLES = {  # what the bench reports of the service's own metrics
    ("sentiment_asr_batch_size_sum", ()): "batched_utterances",
    ("sentiment_asr_batch_size_count", ()): "batches",
    ("sentiment_early_finals_total", ("used",)): "early_finals_used",
    ("sentiment_early_finals_total", ("wasted",)): "early_finals_wasted",
    ("sentiment_asr_decodes_skipped_total", ()): "decodes_skipped",
    ("sentiment_asr_busy_seconds_total", ("final",)): "busy_s_final",
    ("sentiment_asr_busy_seconds_total", ("partial",)): "busy_s_partial",
    ("sentiment_asr_audio_seconds_total", ("final",)): "audio_s_final",
    ("sentiment_asr_audio_seconds_total", ("partial",)): "audio_s_partial",
}


def _scheduler_metrics(url: str) -> Counter[str]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    values: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sample.labels.values()))
            if key in SCHEDULER_SAMPLES:
                values[SCHEDULER_SAMPLES[key]] = sample.value
    return values


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _load_calls() -> list[ClientCall]:
    calls = []
    for path, channel, silence in CALLS:
        call = load_client_call(path, CustomerChannel(channel), "x", "x", "auto")
        pad = np.zeros(int(silence * call.sample_rate), dtype=np.float32)
        operator = None if call.operator is None else np.concatenate([call.operator, pad])
        calls.append(ClientCall("x", "x", np.concatenate([call.customer, pad]), operator,
                                call.sample_rate))
    return calls


async def _run(url: str, templates: list[ClientCall], n: int, pid: int) -> RunResult:
    result = RunResult(n)
    http_url = url.replace("ws://", "http://")
    scheduler_before = _scheduler_metrics(http_url)
    cpu_before = _proc_cpu_seconds(pid)
    threads_before = cpu_seconds_by_thread_name(pid)
    wall_before, client_cpu_before = time.monotonic(), time.process_time()

    async def one(index: int, template_index: int) -> bool:
        """Stream one call and record what it showed; False if it failed."""
        template = templates[template_index]
        call = ClientCall(f"bench-{n}-{index}-{time.time_ns()}", f"bench-op-{index}",
                          template.customer, template.operator, template.sample_rate)
        arrivals: list[tuple[float, dict]] = []
        started = time.monotonic()
        outcome = await stream_call(call, url, "native",
                                    on_event=lambda source, e: arrivals.append(
                                        (time.monotonic(), e)) if source == "feed" else None)
        result.call_spans.append((started, time.monotonic()))
        if outcome.close_code != 1000 or outcome.first_sent_at is None:
            result.errors += 1
            return False
        for arrived, event in arrivals:
            if event["type"] == "alert":
                result.alert_latencies.append(arrived - outcome.first_sent_at - event["t"])
                result.alert_sources.append(f"{CALLS[template_index][0].name}@{event['t']:.1f}")
            elif event["type"] == "utterance":
                result.final_latencies.append(arrived - outcome.first_sent_at - event["end"])
                result.speech_seconds += event["end"] - event["start"]
        return True

    until = time.monotonic() + LEVEL_S

    async def connection(index: int, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        for turn in itertools.count():
            succeeded = await one(index, (index + turn) % len(templates))
            # A failed call has failed the level already; a refusing service is not hammered.
            if not succeeded or time.monotonic() >= until:
                return

    if n == 1:  # one call at a time, each call that escalates: more than one alert to time
        for index in SINGLE_CALL_TEMPLATES:
            await one(0, index)
    else:
        await asyncio.gather(*(
            connection(i, delay_s)
            for i, delay_s in enumerate(start_offsets(n, len(templates)))
        ))
    result.cpu_seconds = _proc_cpu_seconds(pid) - cpu_before
    result.wall_seconds = time.monotonic() - wall_before
    result.client_cpu_seconds = time.process_time() - client_cpu_before
    threads_after = cpu_seconds_by_thread_name(pid)
    threads_after.subtract(threads_before)
    result.cpu_by_thread = dict(threads_after)
    scheduler = _scheduler_metrics(http_url)
    scheduler.subtract(scheduler_before)
    result.scheduler = {name: round(value, 1) for name, value in sorted(scheduler.items())}
    if scheduler["batches"]:
        result.scheduler["mean_batch"] = round(
            scheduler["batched_utterances"] / scheduler["batches"], 2
        )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    levels_given = parser.add_mutually_exclusive_group()
    levels_given.add_argument("--calls", help="levels to run, e.g. 1,4,12 (default: "
                              f"{','.join(map(str, DEFAULT_LEVELS))}, then search upward)")
    levels_given.add_argument("--max-calls", type=int, default=SEARCH_MAX_CALLS, metavar="N",
                              help=f"where the search stops (default {SEARCH_MAX_CALLS})")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="runs per level, judged by their medians (default 1)")
    parser.add_argument("--skip-reference", action="store_true")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    search = args.calls is None
    if search:
        if args.max_calls < 1:
            parser.error("--max-calls must be at least 1")
        levels = first_levels(DEFAULT_LEVELS, args.max_calls)
    else:
        try:
            levels = [int(n) for n in args.calls.split(",")]
        except ValueError:
            parser.error(f"--calls wants numbers separated by commas, got {args.calls!r}")
        if min(levels) < 1:
            parser.error("--calls: every level needs at least one call")
    with contextlib.ExitStack() as stack:
        env = engines_from_arguments(args, stack)
        print(json.dumps({"engines": sorted(env) or "embedded"}), flush=True)
        _bench(args, levels, search, env)


def _bench(args: argparse.Namespace, levels: list[int], search: bool, env: dict[str, str]
           ) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="sentiment-bench-"))
    server, port = start_service(data_dir, {**NO_ADMISSION_BY_LOAD, **env})
    rows: list[dict] = []
    try:
        templates = _load_calls()
        # One call first, not counted: lazy initialisation (allocator pools, thread pools,
        # dictionaries) is paid once per process, not per call.
        asyncio.run(_run(f"ws://127.0.0.1:{port}", templates, 1, server.pid))
        gauge = SpeedGauge(source_model_dir(Settings().whisper_dir))
        speed = [gauge.encode_30s_cpu_s()]

        def run_level(n: int) -> dict:
            runs = []
            for _ in range(args.repeat):
                run = asyncio.run(_run(f"ws://127.0.0.1:{port}", templates, n, server.pid))
                speed.append(gauge.encode_30s_cpu_s())  # the service is idle again
                row = run.row()
                runs.append(row | speed_fields(row["cpu_per_speech_s"], *speed[-2:]))
                print(json.dumps(runs[-1]), flush=True)
            if args.repeat == 1:
                return runs[0]
            level = median_row(runs)
            print(json.dumps({"median": level}), flush=True)
            return level

        rows = [run_level(n) for n in levels]
        while search and (n := next_level({r["calls"]: passes(r) for r in rows},
                                          args.max_calls)) is not None:
            rows.append(run_level(n))
        peak_rss = _proc_peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    passing = [r["calls"] for r in rows if passes(r)]
    best = max(passing, default=0)
    failed_above = min((r["calls"] for r in rows if r["calls"] > best and not passes(r)),
                       default=None)
    single = next((r for r in rows if r["calls"] == 1), rows[0])
    print(f"peak RSS {peak_rss:.0f} MB; largest N with alert p95 <= {ALERT_P95_TARGET_S} s:"
          f" {best}" + (f" ({failed_above} failed)" if failed_above else
                        " (no level tried above it failed: a lower bound)"), flush=True)
    reference = {} if args.skip_reference else reference_comparison()
    if reference:
        print(json.dumps({"reference": reference}), flush=True)
    # The cost of speech at the load the machine is sized for (the largest passing N): with
    # fewer calls the idle recogniser spends spare time on partials and early finals.
    loaded = next((r for r in rows if r["calls"] == best), rows[-1])
    print(json.dumps({
        "max_calls": best,
        "max_calls_failed_above": failed_above,
        "alert_p50_s": single["alert_p50_s"],
        "alert_p95_s": single["alert_p95_s"],
        "cpu_per_speech_s": loaded["cpu_per_speech_s"],
        "cpu_per_speech_s_at_calls": loaded["calls"],
        "encode_30s_cpu_s": loaded["encode_30s_cpu_s"],
        "cpu_per_speech_s_at_issue_speed": loaded["cpu_per_speech_s_at_issue_speed"],
        **({"runs_per_level": args.repeat,
            "cpu_per_speech_s_range": loaded["cpu_per_speech_s_range"]}
           if args.repeat > 1 else {}),
        "wer": reference.get("wer"),
        "wer_reference": reference.get("wer_reference"),
        "rss_mb": round(peak_rss),
    }))


if __name__ == "__main__":
    main()
