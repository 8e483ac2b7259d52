"""Admission by load (`live.admission`): a call is refused at its start, with the reason, when
the recognition backlog is too long now, or when the calls live, plus it, would keep the
recognition workers too busy at the demand per call learnt from the calls served (and
before that, at least a dense call's): a burst of calls into an idle recogniser is held to
what it can serve."""

from __future__ import annotations

import asyncio

import pytest

from sentiment_svc.config import Settings
from sentiment_svc.domain.vocabulary import Protocol
from sentiment_svc.live.admission import (
    DEMAND_HORIZON_CALL_S,
    PRIOR_WORK_PER_CALL_S,
    Admission,
    RefusalReason,
)
from sentiment_svc.live.service import CallRejected, Service
from tests.standins import ScriptedRecogniser, call_start, model_free_engines

RATE = 0.1  # the recogniser's cost rate: a prior demand of 0.16 worker-s per call-second


def test_the_demand_is_learnt_per_call_second_and_projects_the_load_of_one_more_call():
    admission = Admission(max_backlog_s=3.0, max_recognizer_load=0.8)
    admission.observe(0.0, 0, 0.0)
    admission.observe(100.0, 4, 80.0)  # 400 call-seconds took 80 worker-seconds
    assert admission.demand(RATE) == pytest.approx(0.2)
    assert admission.projected_load(8, 2, RATE) == pytest.approx(0.8)
    assert admission.refusal(7, backlog_s=0.5, workers=2, cost_rate=RATE) is None  # 80 %
    refusal = admission.refusal(8, backlog_s=0.5, workers=2, cost_rate=RATE)  # 9 calls: 90 %
    assert refusal is not None and refusal.reason is RefusalReason.LOAD
    assert refusal.message == "9 calls would keep recognition 90% busy (over 80%)"


def test_before_enough_call_time_the_demand_is_at_least_a_dense_call_s():
    admission = Admission(max_backlog_s=3.0, max_recognizer_load=0.8)
    prior = PRIOR_WORK_PER_CALL_S * RATE
    assert admission.demand(RATE) == pytest.approx(prior)  # nothing seen: the prior
    admission.observe(0.0, 0, 0.0)
    admission.observe(20.0, 1, 1.0)  # one quiet call: 0.05
    assert admission.demand(RATE) == pytest.approx(prior)  # too little seen to go below it
    # a burst into an idle instance: 10 calls at 0.16 on 2 workers is 80 %, the 11th not
    assert admission.refusal(9, backlog_s=0.0, workers=2, cost_rate=RATE) is None
    assert admission.refusal(10, backlog_s=0.0, workers=2, cost_rate=RATE) is not None
    admission.observe(20.0 + DEMAND_HORIZON_CALL_S / 10, 10, 1.0 + DEMAND_HORIZON_CALL_S * 0.05)
    assert admission.demand(RATE) == pytest.approx(0.05)  # seen enough: what the calls cost


def test_a_long_backlog_refuses_whatever_the_demand():
    admission = Admission(max_backlog_s=3.0, max_recognizer_load=0.8)
    refusal = admission.refusal(0, backlog_s=4.25, workers=2, cost_rate=RATE)
    assert refusal is not None and refusal.reason is RefusalReason.BACKLOG
    assert refusal.message == "the recognition backlog is 4.2 s (over 3 s)"
    assert Admission(None, None).refusal(500, backlog_s=1e6, workers=1, cost_rate=RATE) is None


def test_the_demand_follows_the_calls_served_without_jumping_at_one_short_sample():
    admission = Admission(max_backlog_s=None, max_recognizer_load=0.8)
    admission.observe(0.0, 0, 0.0)
    admission.observe(30.0, 10, 60.0)  # 300 call-s at 0.2
    assert admission.demand_s == pytest.approx(0.2)
    admission.observe(31.0, 10, 61.0)  # 10 call-s at 0.1: a small step towards it
    assert 0.19 < admission.demand_s < 0.2
    admission.observe(31.5, 10, 70.0)  # 5 call-s: kept until a sample is long enough
    assert 0.19 < admission.demand_s < 0.2
    admission.observe(40.0, 10, 70.0)
    admission.observe(100.0, 0, 70.0)  # idle time is not call time
    assert admission.observed_call_s == pytest.approx(300 + 10 + 90)


def test_a_burst_of_calls_is_held_to_what_the_recogniser_serves(tmp_path):
    """Calls opened together into an idle service: admitted up to the prior demand's load,
    the next refused with 1013's reason, a metric and the load on /readyz; a refused call
    leaves nothing, and a call that ends makes room for one more."""
    service = Service(Settings(data_dir=tmp_path, max_backlog_s=3.0, max_recognizer_load=0.8))
    service.engines = model_free_engines()
    recogniser = ScriptedRecogniser()
    recogniser.cost.rate = RATE / 2  # a prior of 0.08 per call: 10 calls on its one worker
    service.scheduler = recogniser  # type: ignore[assignment]

    async def scenario() -> None:
        calls = []
        with pytest.raises(CallRejected, match=r"11 calls would keep recognition 88% busy"):
            while len(calls) < 30:
                calls.append(await service.open_call(call_start(f"c{len(calls)}"),
                                                     Protocol.NATIVE))
        assert len(calls) == 10
        assert service.load()["recognizer_load"] == pytest.approx(0.8)
        await service.close_call(calls.pop())
        calls.append(await service.open_call(call_start("its-place"), Protocol.NATIVE))
        assert service.store.get_call("c10") is None  # the refused call left nothing
        for call in calls:
            await service.close_call(call)
        await service.shutdown()

    asyncio.run(scenario())
    value = service.metrics.registry.get_sample_value
    assert value("sentiment_calls_refused_total", {"reason": "load"}) == 1
    assert value("sentiment_calls_refused_total", {"reason": "backlog"}) is None


def test_the_service_learns_its_calls_demand_from_the_recogniser_s_busy_time(tmp_path):
    service = Service(Settings(data_dir=tmp_path))
    service.engines = model_free_engines()
    recogniser = ScriptedRecogniser()
    service.scheduler = recogniser  # type: ignore[assignment]

    async def scenario() -> None:
        calls = [await service.open_call(call_start(f"c{n}"), Protocol.NATIVE)
                 for n in range(5)]
        await asyncio.sleep(2.5)  # 5 calls: 12.5 call-seconds, one sample
        recogniser.live_busy_s += 0.5 * 5 * 2.5
        await service.close_call(calls.pop())
        for call in calls:
            await service.close_call(call)
        await service.shutdown()

    asyncio.run(scenario())
    assert service.admission.demand_s == pytest.approx(0.5, rel=0.1)
