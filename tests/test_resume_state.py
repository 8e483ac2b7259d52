"""Resuming a call (`live.resume`): the escalation state rebuilt from what the store has
(`CallState.restore`) behaves like the state that was lost, and a console acknowledgement
(`CallState.settle`) leaves the alert answered; the store takes over only a call that is
resumable. No models."""

from __future__ import annotations

import time
from dataclasses import replace

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.alerts.state import CallState
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import CallStatus, Protocol
from sentiment_svc.frames import Alert, AlertAddressed, Channel
from sentiment_svc.storage.db import CallStore
from tests.test_alerts import NEGATIVE, NEUTRAL, said

BEFORE = [
    said(5, "здравствуйте, я по поводу возврата"),
    said(10, "мне не помогли", NEGATIVE, ["not_helped"]),
    said(15, "опять не помогли, третий раз звоню", NEGATIVE, ["not_helped", "repeat_contact"]),
    said(18, "хорошо", NEUTRAL, channel=Channel.OPERATOR),
]
AFTER = [
    said(30, "я уже третий раз звоню", NEGATIVE, ["repeat_contact"]),
    said(34, "извините, пожалуйста, за ожидание", NEUTRAL, ["operator_apologised"],
         channel=Channel.OPERATOR),
    said(40, "позовите руководителя", NEGATIVE, ["escalation_request"]),
]


def run(state: CallState, utterances) -> list[Alert | AlertAddressed]:
    return [event for utterance in utterances for event in state.observe(utterance)]


def test_a_restored_state_goes_on_exactly_as_the_lost_one_would_have():
    lost = CallState(Policy.load())
    fired = [e for e in run(lost, BEFORE) if isinstance(e, Alert)]
    assert fired, "the first part raises an alert"

    # What the new instance gets: stored utterances and alerts, times continuing from 0 on
    # the new connection (offset: the first part's length).
    offset = 20.0
    restored = CallState(Policy.load())
    restored.restore([replace(u, start=u.start - offset, end=u.end - offset) for u in BEFORE],
                     [replace(a, t=a.t - offset) for a in fired],
                     [replace(a, t=a.t - offset) for a in fired])
    assert (restored.score, restored.level) == (lost.score, lost.level)
    assert restored.categories_heard == lost.categories_heard

    def shape(events):
        return [(type(e).__name__, getattr(e, "action", None) or e.alert.action)
                for e in events]

    expected = run(lost, AFTER)
    assert shape(run(restored, [replace(u, start=u.start - offset, end=u.end - offset)
                                for u in AFTER])) == shape(expected)
    assert ("AlertAddressed", "apology") in shape(expected)  # the old alert is answered
    assert (restored.score, restored.level) == (lost.score, lost.level)


def test_an_alert_settled_on_the_console_is_not_answered_again_by_speech():
    state = CallState(Policy.load())
    fired = [e for e in run(state, BEFORE) if isinstance(e, Alert)]
    assert [a.action for a in state.open_alerts] == [a.action for a in fired]
    for alert in fired:
        state.settle(alert)
    assert state.open_alerts == ()
    apology = said(34, "извините, пожалуйста", NEUTRAL, ["operator_apologised"],
                   channel=Channel.OPERATOR)
    assert not any(isinstance(e, AlertAddressed) for e in state.observe(apology))


def test_the_store_resumes_only_an_interrupted_call_or_one_live_on_a_dead_instance(tmp_path):
    store = CallStore(tmp_path)
    for call_id in ("on-dead", "on-alive", "ended"):
        store.start_call(CallOpened(
            call_id=call_id, operator_id="op", customer_id=None, language="ru",
            protocol=Protocol.NATIVE, started_at=time.time(), sample_rate=8000, channels=1,
            instance_id="dead" if call_id != "on-alive" else "alive",
        ))
    store.end_call("ended", CallStatus.COMPLETED, None, time.time())
    assert not store.resume_call("on-dead", "me", dead=None)  # live, its owner not judged
    assert store.resume_call("on-dead", "me", dead="dead")
    assert not store.resume_call("on-alive", "me", dead="dead")
    assert not store.resume_call("ended", "me", dead="dead")  # completed stays completed
    assert store.mark_instance_interrupted("alive", time.time()) == ["on-alive"]
    assert store.resume_call("on-alive", "me", dead=None)  # interrupted: anyone may resume
    calls = {c.call_id: (c.status, c.instance_id, c.ended_at) for c in store.list_calls()}
    assert calls["on-dead"] == (CallStatus.LIVE, "me", None)
    assert calls["on-alive"] == (CallStatus.LIVE, "me", None)
    assert calls["ended"][:2] == (CallStatus.COMPLETED, "dead")
    assert store.live_instances() == ["me"]
    store.close()
