"""Escalation state and policy: pure logic over analysed utterances."""

from __future__ import annotations

import pytest

from sentiment_svc.alerts.policy import Level, Policy, PolicyError
from sentiment_svc.alerts.state import CallState
from sentiment_svc.frames import Channel, Sentiment, UtteranceAnalysis

NEGATIVE = Sentiment(neg=0.9, neu=0.08, pos=0.02)
NEUTRAL = Sentiment(neg=0.05, neu=0.9, pos=0.05)
POSITIVE = Sentiment(neg=0.02, neu=0.08, pos=0.9)


def said(t: float, text: str, sentiment: Sentiment = NEUTRAL, categories=(),
         channel: Channel = Channel.CUSTOMER, raised: bool = False) -> UtteranceAnalysis:
    return UtteranceAnalysis(channel=channel, start=t - 2, end=t, lang="ru", text=text,
                             sentiment=sentiment, categories=tuple(categories), raised_voice=raised)


@pytest.fixture
def state() -> CallState:
    return CallState(Policy.load())


def test_calm_call_raises_nothing(state):
    for t, text in enumerate(["хочу узнать баланс", "а когда придёт курьер", "понятно"], 1):
        assert state.observe(said(t * 5.0, text)) == []
    assert state.level is Level.CALM


def test_one_negative_utterance_alone_does_not_alert(state):
    assert state.observe(said(5, "ну такое", NEGATIVE)) == []


def test_not_helped_twice_escalates_to_an_apology_with_evidence(state):
    assert state.observe(said(5, "мне не помогли", NEGATIVE, ["not_helped"])) == []
    alerts = state.observe(said(10, "опять не помогли, третий раз звоню", NEGATIVE,
                                ["not_helped", "repeat_contact"]))
    assert [a.action for a in alerts] == ["apology"]
    assert alerts[0].severity == "warning" and alerts[0].t == 10
    assert alerts[0].evidence == ("мне не помогли", "опять не помогли, третий раз звоню")


def test_supervisor_request_is_critical_and_immediate(state):
    alerts = state.observe(said(3, "позовите руководителя", NEGATIVE, ["escalation_request"]))
    assert [(a.action, a.severity) for a in alerts][0] == ("supervisor", "critical")


def test_cooldown_keeps_the_operator_from_being_flooded(state):
    first = state.observe(said(3, "позовите руководителя", NEGATIVE, ["escalation_request"]))
    again = state.observe(said(8, "я сказал руководителя", NEGATIVE, ["escalation_request"]))
    later = state.observe(said(60, "где руководитель", NEGATIVE, ["escalation_request"]))
    assert any(a.action == "supervisor" for a in first)
    assert not any(a.action == "supervisor" for a in again)
    assert any(a.action == "supervisor" for a in later)


def test_hysteresis_holds_the_level_until_the_call_really_calms(state):
    state.observe(said(5, "не помогли", NEGATIVE, ["not_helped"]))
    state.observe(said(10, "безобразие", NEGATIVE, ["not_helped"]))
    assert state.level >= Level.ESCALATED
    state.observe(said(15, "ладно", NEUTRAL))
    assert state.level >= Level.TENSE  # one calm line does not reset the call
    for t in range(20, 60, 5):
        state.observe(said(t, "хорошо, понятно", NEUTRAL))
    assert state.level is Level.CALM


def test_operator_speech_never_moves_the_customer_state(state):
    alerts = state.observe(said(5, "вы пишете что вам не помогли и требуете руководителя",
                                NEGATIVE, ["not_helped", "escalation_request"], Channel.OPERATOR))
    assert alerts == [] and state.score == 0


def test_repeated_money_complaint_suggests_a_bonus(state):
    state.observe(said(5, "с меня списали деньги", NEGATIVE, ["money"]))
    alerts = state.observe(said(15, "верните деньги", NEGATIVE, ["money"]))
    assert "bonus" in [a.action for a in alerts]


def test_gratitude_suggests_thanks(state):
    alerts = state.observe(said(5, "спасибо большое, вы очень помогли", POSITIVE, ["gratitude"]))
    assert [(a.action, a.severity) for a in alerts] == [("thank", "info")]


def test_raised_voice_adds_to_the_escalation(state):
    quiet = CallState(Policy.load())
    quiet.observe(said(5, "это уже ни в какие ворота", NEGATIVE))
    state.observe(said(5, "это уже ни в какие ворота", NEGATIVE, raised=True))
    assert state.score > quiet.score


def test_invalid_policy_is_reported_with_its_place(tmp_path):
    text = Policy.load().model_dump_json()
    broken = tmp_path / "policy.yaml"
    broken.write_text(text.replace('"action":"supervisor"', '"action":"shout"', 1))
    with pytest.raises(PolicyError, match=r"policy.yaml: rules\.0\.action"):
        Policy.load(broken)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(text.replace('"not_helped"', '"not_heard"', 1))
    with pytest.raises(PolicyError, match="category_weights"):
        Policy.load(unknown)
    with pytest.raises(PolicyError, match="not valid YAML"):
        (tmp_path / "bad.yaml").write_text("rules: [unclosed")
        Policy.load(tmp_path / "bad.yaml")


def test_customer_memory_makes_a_complaint_from_an_earlier_call_count_as_repeated(state):
    state.seed({"money": 2, "not_helped": 1}, negative_calls=2)
    assert state.level is Level.TENSE
    alerts = state.observe(said(5, "опять списали деньги", NEGATIVE, ["money"]))
    assert "bonus" in [a.action for a in alerts]  # "the same money complaint came up again"


def test_without_memory_the_first_money_complaint_is_not_repeated(state):
    alerts = state.observe(said(5, "опять списали деньги", NEGATIVE, ["money"]))
    assert "bonus" not in [a.action for a in alerts]


def test_operator_apology_addresses_the_open_apology_alert(state):
    state.observe(said(5, "не помогли", NEGATIVE, ["not_helped"]))
    alert = state.observe(said(10, "опять не помогли", NEGATIVE, ["not_helped"]))[0]
    assert alert.action == "apology"
    done = state.observe(said(13.5, "приношу извинения", NEUTRAL, ["operator_apologised"],
                              Channel.OPERATOR))
    assert len(done) == 1 and done[0].alert is alert
    assert done[0].seconds_to_address == pytest.approx(3.5)
    # Addressed once: a second apology does not address it again.
    assert state.observe(said(20, "извините", NEUTRAL, ["operator_apologised"],
                              Channel.OPERATOR)) == []


def test_one_utterance_gives_at_most_one_alert_the_most_urgent(state):
    state.observe(said(5, "мне не помогли", NEGATIVE, ["not_helped"]))
    # Repeats a complaint (apology rule), pushes the call up a level (apology) and asks for
    # a supervisor (critical): the operator sees one card, the supervisor one.
    alerts = state.observe(said(10, "опять не помогли, позовите руководителя", NEGATIVE,
                                ["not_helped", "escalation_request"]))
    assert [(a.action, a.severity) for a in alerts] == [("supervisor", "critical")]
