"""How the benchmark plans its levels and sums them up: where each connection starts, how
many calls were live at once, whether a level held, which level to try next, and the
median of repeated runs. Pure functions, tested without a service (`bench` runs them)."""

from __future__ import annotations

import numpy as np

from tools.machine_speed import at_issue_speed

ALERT_P95_TARGET_S = 2.0


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile rounded to the millisecond, None for no values."""
    return round(float(np.percentile(values, q)), 3) if values else None


# Copies of the same recording start this far apart: in lockstep their utterances would end
# at the same instant, a burst no real contact centre sends (and an easy batch). With many
# copies closer, so that every connection has started within MAX_STAGGER_S.
COPY_OFFSET_S = 2.5
MAX_STAGGER_S = 15.0


def median_row(runs: list[dict]) -> dict:
    """One level's repeated runs as one row: the median of each figure, the range of the
    two the targets are about, and the errors of all runs."""
    def present(key: str) -> list[float]:  # a level without alerts has no alert figures
        return [run[key] for run in runs if run[key] is not None]

    def median(key: str) -> float | None:
        values = present(key)
        return round(float(np.median(values)), 3) if values else None

    def spread(key: str) -> list[float]:
        values = present(key)
        return [min(values), max(values)] if values else []

    return {
        "calls": runs[0]["calls"],
        "runs": len(runs),
        **{key: median(key) for key in (
            "alert_p50_s", "alert_p95_s", "final_p50_s", "final_p95_s", "cpu_per_speech_s",
            "encode_30s_cpu_s", "cpu_per_speech_s_at_issue_speed", "service_cores",
            "client_cores", "live_calls_peak", "live_calls_mean",
        ) if key in runs[0]},
        "alert_p95_s_range": spread("alert_p95_s"),
        "cpu_per_speech_s_range": spread("cpu_per_speech_s"),
        "errors": sum(run["errors"] for run in runs),
    }


def speed_fields(cpu: float | None, speed_before: float, speed_after: float) -> dict:
    """The machine's speed over a run (the mean of its measures just before and just
    after) and the run's CPU figure scaled to the targets' speed."""
    speed = round((speed_before + speed_after) / 2, 3)
    return {"encode_30s_cpu_s": speed,
            "cpu_per_speech_s_at_issue_speed": None if cpu is None else at_issue_speed(cpu, speed)}


def start_offsets(n: int, templates: int) -> list[float]:
    """When each of n connections starts its first call (connection i plays recording
    i mod templates first): copies of one recording COPY_OFFSET_S apart, or closer, so that
    all have started within MAX_STAGGER_S."""
    copies = -(-n // templates)
    step = min(COPY_OFFSET_S, MAX_STAGGER_S / copies)
    return [i // templates * step for i in range(n)]


def live_calls(spans: list[tuple[float, float]]) -> tuple[int, float]:
    """The most calls live at once and the time-weighted mean number, from the first call's
    start to the last one's end."""
    if not spans:
        return 0, 0.0
    # an end and a start at the same instant: the end first (a connection's next call)
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    live = peak = 0
    area = 0.0
    for (at, change), (next_at, _) in zip(edges, [*edges[1:], edges[-1]], strict=True):
        live += change
        peak = max(peak, live)
        area += live * (next_at - at)
    extent = edges[-1][0] - edges[0][0]
    return peak, round(area / extent, 1) if extent > 0 else float(peak)


def passes(row: dict) -> bool:
    """The level held: alerts within the p95 target and no call failed."""
    return (row["alert_p95_s"] is not None and row["alert_p95_s"] <= ALERT_P95_TARGET_S
            and not row["errors"])


def first_levels(defaults: tuple[int, ...], max_calls: int) -> list[int]:
    """The levels a search starts with: the defaults up to `max_calls`, the cap itself in
    place of the first one above it."""
    return ([n for n in defaults if n < max_calls] + [max_calls])[:len(defaults)]


def next_level(passed: dict[int, bool], max_calls: int) -> int | None:
    """The next number of calls to try, in the search for the largest that passes, given
    the levels run so far (calls -> passed); None when the search is done. Doubles past
    the largest pass until a level fails or `max_calls`, then halves the gap between the
    largest pass and the smallest failure above it until that is within a quarter."""
    best = max((n for n, ok in passed.items() if ok), default=0)
    if best == 0:
        return None  # not even the smallest level held: nothing to search
    failed_above = min((n for n, ok in passed.items() if not ok and n > best), default=None)
    if failed_above is None:
        candidate = min(best * 2, max_calls)
        return candidate if candidate > best else None
    if failed_above - best <= max(1, best // 4):
        return None
    return best + (failed_above - best) // 2
