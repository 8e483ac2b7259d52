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
         channel: Channel = Channel.CUSTOMER, raised: bool = False,
         loudness_db: float = 0.0) -> UtteranceAnalysis:
    return UtteranceAnalysis(channel=channel, start=t - 2, end=t, lang="ru", text=text,
                             sentiment=sentiment, categories=tuple(categories),
                             raised_voice=raised, loudness_db=loudness_db)


@pytest.fixture
def state() -> CallState:
    return CallState(Policy.load())


def test_calm_call_raises_nothing(state):
    for t, text in enumerate(["хочу узнать баланс", "а когда придёт курьер", "понятно"], 1):
        assert state.observe(said(t * 5.0, text)) == []
    assert state.level is Level.CALM


def test_one_negative_utterance_alone_does_not_alert(state):
    assert state.observe(said(5, "ну такое", NEGATIVE)) == []


def test_a_complaint_alerts_on_its_utterance_as_the_label_guide_says(state):
    # The label guide's action for one utterance: apology for a complaint alone, bonus for
    # a repeat contact that is still not solved, with the earlier complaint as evidence.
    alerts = state.observe(said(5, "мне не помогли", NEGATIVE, ["not_helped"]))
    assert [(a.action, a.severity, a.t) for a in alerts] == [("apology", "warning", 5)]
    alerts = state.observe(said(10, "опять не помогли, третий раз звоню", NEGATIVE,
                                ["not_helped", "repeat_contact"]))
    assert [a.action for a in alerts] == ["bonus"]
    assert alerts[0].evidence == ("мне не помогли", "опять не помогли, третий раз звоню")


@pytest.mark.parametrize(("categories", "action"), [
    (["waiting"], "apology"), (["money"], "bonus"), (["not_helped", "repeat_contact"], "bonus"),
    (["churn_threat"], "supervisor"), (["rudeness"], "supervisor"),
    (["profanity", "waiting"], "supervisor"), (["legal_threat"], "supervisor"),
])
def test_one_utterance_gets_the_label_guides_action(state, categories, action):
    alerts = state.observe(said(5, "…", NEGATIVE, categories))
    assert [a.action for a in alerts] == [action]


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


def test_a_money_complaint_suggests_a_bonus_once_per_cooldown(state):
    assert [a.action for a in state.observe(said(5, "с меня списали деньги", NEGATIVE,
                                                 ["money"]))] == ["bonus"]
    # Within the cooldown the bonus is held back, and so is every less urgent rule (an
    # apology card for the same complaint would be noise) ...
    assert state.observe(said(15, "верните деньги", NEGATIVE, ["money"])) == []
    assert state.observe(said(25, "верните мои деньги", NEGATIVE, ["money"])) == []
    # ... but not a more urgent one
    assert [a.action for a in state.observe(said(30, "позовите начальника", NEGATIVE,
                                                 ["escalation_request"]))] == ["supervisor"]
    # and after the cooldown the bonus is suggested again
    assert [a.action for a in state.observe(said(60, "где мои деньги", NEGATIVE,
                                                 ["money"]))] == ["bonus"]


def test_gratitude_suggests_thanks(state):
    alerts = state.observe(said(5, "спасибо большое, вы очень помогли", POSITIVE, ["gratitude"]))
    assert [(a.action, a.severity) for a in alerts] == [("thank", "info")]


def test_a_pleased_customer_is_thanked_without_a_thank_you_word(state):
    assert state.observe(said(5, "хочу узнать баланс")) == []
    alerts = state.observe(said(10, "о, уже работает, отлично", POSITIVE))
    assert [a.action for a in alerts] == ["thank"]


@pytest.mark.parametrize("earlier", [
    said(5, "три дня без интернета", NEGATIVE),  # negative, no category
    said(5, "второй день жду мастера", NEUTRAL, ["waiting"]),  # a complaint read neutral
])
def test_thanks_after_a_complaint_in_the_call_is_never_thanked(state, earlier):
    # "Ну спасибо вам большое" after an outage is sarcasm or resignation, even when the
    # words read pleased: the customer is not pleased in context.
    state.observe(earlier)
    later = state.observe(said(90, "ну спасибо вам большое", POSITIVE, ["gratitude"]))
    assert [a.action for a in later] == []


def test_pleased_words_with_a_complaint_are_not_thanked(state):
    state.observe(said(5, "жду уже час", NEGATIVE, ["waiting"]))  # apology, cooldown on
    fresh = CallState(Policy.load())
    for call in (state, fresh):
        alerts = call.observe(said(10, "спасибо, но мне так и не помогли", POSITIVE,
                                   ["gratitude", "not_helped"]))
        assert "thank" not in [a.action for a in alerts]


def test_a_shouted_complaint_alerts_on_that_utterance_even_in_the_cooldown(state):
    assert state.observe(said(5, "номер заказа пять", NEUTRAL)) == []
    assert [a.action for a in state.observe(said(10, "жду уже час", NEGATIVE,
                                                 ["waiting"]))] == ["apology"]
    alerts = state.observe(said(15, "да сколько можно!", NEGATIVE, loudness_db=12.0))
    assert [(a.action, a.severity, a.t) for a in alerts] == [("apology", "critical", 15)]


def test_loud_but_neutral_speech_only_adds_to_the_score(state):
    quiet = CallState(Policy.load())
    quiet.observe(said(5, "алло, вы меня слышите", NEUTRAL))
    assert state.observe(said(5, "алло, вы меня слышите", NEUTRAL, loudness_db=12.0)) == []
    assert state.observe(said(9, "алло", NEUTRAL, raised=True, loudness_db=12.0)) == []
    assert state.score > quiet.score


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


def test_customer_memory_does_not_hold_back_the_first_complaint(state):
    state.seed({"not_helped": 1}, negative_calls=0)
    alerts = state.observe(said(5, "опять не помогли", NEGATIVE, ["not_helped"]))
    assert [a.action for a in alerts] == ["apology"]


def test_operator_apology_addresses_the_open_apology_alert(state):
    alert = state.observe(said(10, "не помогли", NEGATIVE, ["not_helped"]))[0]
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


def test_a_complaint_read_without_a_category_asks_for_an_apology(state):
    # "ну да, чего я ещё ждал": the text model reads a complaint that names no category
    resigned = UtteranceAnalysis(channel=Channel.CUSTOMER, start=3, end=5, lang="ru",
                                 text="ну да, чего я ещё ждал", sentiment=NEGATIVE,
                                 complaint=True)
    assert [a.action for a in state.observe(resigned)] == ["apology"]


def test_the_policy_gives_the_label_guides_action_for_every_labelled_corpus_line():
    # One utterance heard on its own, read exactly as labelled: the bundled policy's action is
    # the label guide's (../shared/labels.md, "action"), so action accuracy is bounded only by
    # the reading of sentiment, complaint and categories.
    from sentiment_svc.analysis.corpus import read_corpus
    from sentiment_svc.analysis.evaluate import suggested_action
    from tests.conftest import ROOT

    policy = Policy.load()
    lines = [item for path in sorted((ROOT / "corpus" / "v2").glob("*.tsv"))
             for item in read_corpus(path)]
    assert len(lines) > 7000
    wrong = []
    for item in lines:
        sentiment = Sentiment(**{label: float(label == item.sentiment)
                                 for label in ("neg", "neu", "pos")})
        utterance = UtteranceAnalysis(channel=Channel.CUSTOMER, start=0, end=1, lang=item.lang,
                                      text=item.text, sentiment=sentiment,
                                      categories=tuple(item.categories), complaint=item.complaint)
        if suggested_action(policy, utterance) != item.action:
            wrong.append(item.id)
    assert wrong == []
