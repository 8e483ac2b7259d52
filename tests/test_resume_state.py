"""Resuming a call (`live.resume`): the escalation state rebuilt from what the store has
(`CallState.restore`) behaves like the state that was lost, and a console acknowledgement
(`CallState.settle`) leaves the alert answered. Pure logic, no models."""

from __future__ import annotations

from dataclasses import replace

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.alerts.state import CallState
from sentiment_svc.frames import Alert, AlertAddressed, Channel
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
