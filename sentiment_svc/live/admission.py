"""Admission by load: whether this instance can take one more call and still recognise its
utterances in time.

Two signals, either of which refuses a call (close code 1013, "retry on another instance"):

- the recognition backlog now (`AsrScheduler.backlog_s`): the seconds of live recognition
  queued and running, per worker. It catches an instance already behind, but it cannot
  see a call admitted a moment ago that has not spoken yet: a burst of calls arriving
  together would all be admitted into an idle recogniser and overload it a minute later.
- the recogniser's projected load: every call costs recognition for as long as it is live.
  The demand per call-second (the workers' seconds spent on the calls' final utterances)
  is learnt from the calls this instance has served, and one more call is admitted only
  while the live calls, plus it, would keep the workers busy for at most
  `max_recognizer_load` of their time. Until enough call time has been seen, the demand
  is taken as at least a dense call's (`PRIOR_WORK_PER_CALL_S` times the recogniser's
  measured cost rate): a burst of calls into an idle instance is held to what it can serve
  before any of them has spoken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# The demand is averaged over about this much call time (e.g. ten calls for 30 s), from
# samples of at least SAMPLE_CALL_S each; before that much has been seen, it is at least
# the prior's.
DEMAND_HORIZON_CALL_S = 300.0
SAMPLE_CALL_S = 10.0
# Audio seconds of recognition work per call-second of a dense call: speech on one side or
# the other 90 % of the time, in 4 s utterances, each costing 3 s more for the encoder's
# window and the prompt (`asr.scheduler.CostModel`): 0.9 + 0.9 / 4 * 3.
PRIOR_WORK_PER_CALL_S = 1.6


class RefusalReason(StrEnum):  # the `reason` label of sentiment_calls_refused_total
    BACKLOG = "backlog"
    LOAD = "load"


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    message: str


@dataclass
class Admission:
    max_backlog_s: float | None
    max_recognizer_load: float | None
    demand_s: float | None = None  # worker-seconds of recognition per call-second
    observed_call_s: float = 0.0
    _at: float | None = None  # when the last observation was made (monotonic)
    _work_s: float = 0.0  # the scheduler's cumulative live work at the last observation
    _pending_call_s: float = 0.0  # call time and work since the last sample
    _pending_work_s: float = 0.0

    def observe(self, now: float, live_calls: int, work_s: float) -> None:
        """Record the workers' cumulative live busy seconds `work_s` at `now`, with `live_calls`
        live since the last observation: call it just before the number of live calls
        changes (and whenever else), so that the count was the same all along."""
        if self._at is not None and live_calls:
            self._pending_call_s += (now - self._at) * live_calls
            self._pending_work_s += max(0.0, work_s - self._work_s)
        if self._pending_call_s >= SAMPLE_CALL_S:
            sample = self._pending_work_s / self._pending_call_s
            weight = 1.0 - math.exp(-self._pending_call_s / DEMAND_HORIZON_CALL_S)
            self.demand_s = sample if self.demand_s is None else (
                self.demand_s + weight * (sample - self.demand_s))
            self.observed_call_s += self._pending_call_s
            self._pending_call_s = self._pending_work_s = 0.0
        self._at, self._work_s = now, work_s

    def demand(self, cost_rate: float) -> float:
        """Worker-seconds per call-second: the learnt demand, and until enough call time has
        been seen, at least the prior's at the recogniser's cost rate now."""
        prior = PRIOR_WORK_PER_CALL_S * cost_rate
        if self.demand_s is None:
            return prior
        if self.observed_call_s < DEMAND_HORIZON_CALL_S:
            return max(prior, self.demand_s)
        return self.demand_s

    def projected_load(self, live_calls: int, workers: int, cost_rate: float) -> float:
        """The share of the workers' time `live_calls` calls would take."""
        return live_calls * self.demand(cost_rate) / max(1, workers)

    def refusal(self, live_calls: int, backlog_s: float, workers: int, cost_rate: float
                ) -> Refusal | None:
        """Why one more call (with `live_calls` live now) would not be served in time."""
        if self.max_backlog_s is not None and backlog_s > self.max_backlog_s:
            return Refusal(RefusalReason.BACKLOG, f"the recognition backlog is {backlog_s:.1f} s"
                                                  f" (over {self.max_backlog_s:g} s)")
        if self.max_recognizer_load is None:
            return None
        load = self.projected_load(live_calls + 1, workers, cost_rate)
        if load > self.max_recognizer_load + 1e-9:  # exactly at the limit is allowed
            return Refusal(RefusalReason.LOAD, f"{live_calls + 1} calls would keep recognition"
                           f" {load:.0%} busy (over {self.max_recognizer_load:.0%})")
        return None
