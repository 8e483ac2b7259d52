"""The CX rules on stored contacts: predicted CSAT, customer effort and NPS risk with their
reasons, prompt follow-through, and the analytics tables built from them."""

from __future__ import annotations

import pytest

from sentiment_svc.cx.analytics import (
    ROW_MODELS,
    AlertGroup,
    AnalyticsReport,
    AnalyticsTable,
    ContactFacts,
    report,
    window_days,
)
from sentiment_svc.cx.followthrough import follow_through
from sentiment_svc.cx.measures import CxReason, RiskBand, Score
from sentiment_svc.cx.rules import hold_count, measure_contact, nps_risk
from sentiment_svc.domain.records import CustomerPast
from sentiment_svc.domain.vocabulary import Action, CallStatus, Category, Severity
from tests.cx_contacts import NEGATIVE, NEUTRAL, POSITIVE, T0, Contact, Prompt, customer, operator

C = Category
DAY = 86_400.0


def reasons(score) -> dict[CxReason, float]:
    return {reason.code: reason.contribution for reason in score.reasons}


def consistent(score: Score) -> bool:
    """The value is its base moved by its reasons, on the 1..5 scale, to one decimal."""
    raw = min(5.0, max(1.0, score.base + sum(r.contribution for r in score.reasons)))
    return abs(score.value - raw) <= 0.05 + 1e-9


def test_a_helped_grateful_customer_is_satisfied_low_effort_low_risk():
    call = Contact("calm", [
        operator(0, "Добрый день, банк «Развитие», слушаю вас"),
        customer(3, "Подскажите, пожалуйста, как узнать остаток по карте"),
        operator(7, "Остаток видно в приложении, на главном экране"),
        customer(11, "Спасибо большое, всё понятно", POSITIVE, C.GRATITUDE),
    ]).record()
    cx = measure_contact(call, CustomerPast(previous_calls=0, negative_calls=0, categories={}))
    assert reasons(cx.csat) == pytest.approx({
        CxReason.SENTIMENT: 2.0 * 0.65 / 2, CxReason.ENDING_TONE: 0.5 * 0.65 / 2,
        CxReason.GRATITUDE: 0.5,
    }, abs=1e-3)
    assert cx.csat.value == 4.3 and consistent(cx.csat)
    assert cx.effort.value == 1.0 and cx.effort.reasons == ()
    assert cx.nps_risk.band is RiskBand.LOW and cx.nps_risk.points == 0.0
    assert reasons(cx.nps_risk) == {CxReason.GRATITUDE: -1.0}


def angry_repeat_caller(status: CallStatus = CallStatus.COMPLETED) -> Contact:
    return Contact("angry", [
        operator(0, "Здравствуйте, слушаю вас"),
        customer(3, "Я уже третий раз звоню, деньги так и не вернули", NEGATIVE,
                 C.REPEAT_CONTACT, C.MONEY),
        customer(8, "Полчаса жду на линии!", NEGATIVE, C.WAITING),
        # 11 s .. 35 s: nobody speaks (a hold)
        operator(35, "Соединяю вас с руководителем", C.OPERATOR_TRANSFERRED),
        customer(40, "Если не вернёте, уйду в другой банк", NEGATIVE, C.CHURN_THREAT),
    ], prompts=[Prompt(11.0, Action.SUPERVISOR, Severity.CRITICAL, (C.MONEY,),
                       acks=(("called_supervisor", 4.0),))],
        keys=("**1", "*"), status=status)


def test_a_repeat_caller_who_waited_and_was_transferred_has_high_effort_and_risk():
    prior = CustomerPast(previous_calls=2, negative_calls=1, categories={C.MONEY: 1})
    cx = measure_contact(angry_repeat_caller().record(), prior)
    assert reasons(cx.effort) == {
        CxReason.PRIOR_CONTACTS: 1.0, CxReason.REPEATED_COMPLAINT: 0.5,
        CxReason.REPEAT_STATED: 0.75, CxReason.WAITING_STATED: 0.5, CxReason.TRANSFERS: 0.5,
        CxReason.HOLDS: 0.25, CxReason.KEYPAD: 0.25,
    }
    assert {r.code: r.count for r in cx.effort.reasons}[CxReason.PRIOR_CONTACTS] == 2
    assert cx.effort.value == 4.8 and consistent(cx.effort)
    assert reasons(cx.csat) == pytest.approx({
        CxReason.SENTIMENT: -1.5, CxReason.ENDING_TONE: -0.375, CxReason.COMPLAINTS: -1.0,
        CxReason.ALERTS_ADDRESSED: 0.25, CxReason.HIGH_EFFORT: -0.9,
    })
    assert cx.csat.value == 1.0 and consistent(cx.csat)  # clamped: the scale ends at 1
    assert reasons(cx.nps_risk) == {
        CxReason.CHURN_THREAT: 3.0, CxReason.LOW_CSAT: 2.0, CxReason.HIGH_EFFORT: 2.0,
        CxReason.REPEATED_COMPLAINT: 1.0,
    }
    assert cx.nps_risk.band is RiskBand.HIGH and cx.nps_risk.points == 8.0


def test_without_a_known_customer_no_history_moves_anything():
    cx = measure_contact(angry_repeat_caller().record(), None)
    assert CxReason.PRIOR_CONTACTS not in reasons(cx.effort)
    assert CxReason.REPEATED_COMPLAINT not in reasons(cx.effort)
    assert cx.effort.value == 3.3  # 1 + 0.75 + 0.5 + 0.5 + 0.25 + 0.25, half up


def test_a_dropped_contact_costs_effort_and_satisfaction():
    calm = Contact("dropped", [customer(0, "Алло, вы меня слышите?")],
                   status=CallStatus.INTERRUPTED).record()
    cx = measure_contact(calm, None)
    assert reasons(cx.effort) == {CxReason.CONTACT_DROPPED: 0.5}
    assert reasons(cx.csat)[CxReason.CONTACT_DROPPED] == -0.5


def test_complaints_and_prompts_are_capped():
    lines = [customer(5.0 * n, "…", NEUTRAL, category) for n, category in enumerate(
        (C.NOT_HELPED, C.MONEY, C.RUDENESS, C.LEGAL_THREAT, C.PROFANITY, C.WAITING))]
    prompts = [Prompt(3.0 + 5 * n, Action.APOLOGY) for n in range(5)]
    cx = measure_contact(Contact("many", lines, prompts).record(), None)
    assert reasons(cx.csat)[CxReason.COMPLAINTS] == -1.0  # six complaints, cap 1
    assert reasons(cx.csat)[CxReason.ALERTS_UNADDRESSED] == -0.75  # five unanswered, cap
    counts = {r.code: r.count for r in cx.csat.reasons}
    assert counts[CxReason.COMPLAINTS] == 6 and counts[CxReason.ALERTS_UNADDRESSED] == 5


def test_a_contact_without_customer_speech_keeps_the_neutral_csat():
    cx = measure_contact(Contact("silent", [operator(0, "Алло? Говорите")]).record(), None)
    assert cx.csat.value == 3.0 and cx.csat.reasons == ()


def test_a_long_contact_and_key_presses_add_effort():
    contact = Contact("long", [customer(0, "Мне нужна справка")], duration=700.0,
                      keys=("1", "2"))
    assert reasons(measure_contact(contact.record(), None).effort) == {
        CxReason.LONG_CONTACT: 0.5,  # two presses: under the keypad's three
    }


def test_holds_are_silences_on_both_channels():
    contact = Contact("holds", [
        customer(25, "Алло?"),  # 25 s of nothing from the start: a hold
        operator(26, "Да, слушаю", length=10),  # overlaps: heard until 36
        customer(30, "Мне нужна выписка"),
        customer(55.9, "Вы здесь?"),  # 19.9 s after 36: not a hold
        operator(80, "Спасибо за ожидание"),  # 21.1 s after 58.9: a hold
    ])
    assert hold_count(contact.record()) == 2


def test_follow_through_of_each_prompt():
    call = Contact("prompts", [
        customer(0, "Вы мне ничем не помогли", NEGATIVE, C.NOT_HELPED),
        operator(5, "Извините за неудобства", C.OPERATOR_APOLOGISED),  # before the prompt
        customer(7, "Это возмутительно", NEGATIVE),  # ends at 10: the prompt fires
        operator(20, "Приношу свои извинения", C.OPERATOR_APOLOGISED),  # ends at 23
        customer(25, "Ладно, хорошо", POSITIVE),
        customer(29, "Спасибо", POSITIVE, C.GRATITUDE),
    ], prompts=[
        Prompt(10.0, Action.APOLOGY, acks=(("apologised", 13.0),)),
        Prompt(12.0, Action.BONUS, acks=(("dismissed", 2.0),)),
        Prompt(14.0, Action.SUPERVISOR),
        Prompt(32.0, Action.THANK, Severity.INFO),
    ]).record()
    apology, bonus, supervisor = follow_through(call)  # the thank prompt is left out
    assert apology.addressed_in_speech and apology.acknowledged and apology.addressed
    assert apology.seconds_to_address == 13.0 and apology.seconds_to_ack == 13.0
    assert apology.sentiment_before == -0.75  # the two customer lines ending by 10 s
    assert apology.sentiment_after == 0.65
    assert bonus.dismissed and not bonus.addressed and not bonus.unanswered
    assert bonus.seconds_to_ack is None and bonus.seconds_to_address is None
    assert supervisor.unanswered and not supervisor.dismissed


def test_the_nps_band_edges():
    calls = {
        "escalation": Contact("e", [customer(0, "Позовите руководителя", NEGATIVE,
                                              C.ESCALATION_REQUEST)]).record(),
        "legal": Contact("l", [customer(0, "Я подам в суд", NEGATIVE, C.LEGAL_THREAT)]).record(),
    }

    def score(value: float) -> Score:
        return Score(value=value, base=value, reasons=())

    low = nps_risk(calls["escalation"], score(3.0), score(1.0), None)
    assert (low.band, low.points) == (RiskBand.LOW, 1.0)
    medium = nps_risk(calls["escalation"], score(2.9), score(1.0), None)
    assert (medium.band, medium.points) == (RiskBand.MEDIUM, 2.0)
    high = nps_risk(calls["legal"], score(3.0), score(4.0), None)
    assert (high.band, high.points) == (RiskBand.HIGH, 4.0)
    medium_effort = nps_risk(calls["legal"], score(3.5), score(3.0), None)
    assert (medium_effort.band, medium_effort.points) == (RiskBand.MEDIUM, 3.0)


def test_window_days_are_the_utc_dates_of_the_window():
    assert window_days(T0, T0 + 7 * DAY) == [f"2026-01-0{d}" for d in range(1, 8)]
    assert window_days(T0 + 3600, T0 + DAY + 1) == ["2026-01-01", "2026-01-02"]


def test_report_tables_from_measured_contacts():
    contacts = [
        angry_repeat_caller(),
        Contact("day2-a", [customer(0, "Верните деньги", NEGATIVE, C.MONEY)],
                [Prompt(3.0, Action.APOLOGY, acks=(("dismissed", 1.0),))],
                started_at=T0 + DAY + 60, operator_id="op-2"),
        Contact("day2-b", [customer(0, "Спасибо", POSITIVE, C.GRATITUDE)],
                started_at=T0 + DAY + 120, operator_id="op-2"),
    ]
    facts = []
    for contact in contacts:
        call = contact.record()
        facts.append(ContactFacts(call, measure_contact(call, None), follow_through(call)))
    answer = report(facts, T0, T0 + 3 * DAY)
    assert answer.days == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert [(r.day, r.contacts) for r in answer.cx_by_day] == [
        ("2026-01-01", 1), ("2026-01-02", 2), ("2026-01-03", 0)]
    assert answer.cx_by_day[2].mean_csat is None
    by_day = {(r.day, r.category): r.contacts for r in answer.complaints_by_day}
    assert by_day == {
        ("2026-01-01", C.REPEAT_CONTACT): 1, ("2026-01-01", C.WAITING): 1,
        ("2026-01-01", C.MONEY): 1, ("2026-01-01", C.CHURN_THREAT): 1,
        ("2026-01-02", C.MONEY): 1,
    }
    assert {(r.operator_id, r.category): r.contacts for r in answer.complaints_by_operator}[
        ("op-2", C.MONEY)] == 1
    day1, day2, _ = answer.follow_through_by_day
    assert (day1.alerts, day1.acknowledged, day1.addressed_in_speech) == (1, 1, 1)
    assert day1.mean_seconds_to_address == 27.0  # prompt at 11 s, transfer heard by 38 s
    assert (day2.alerts, day2.dismissed, day2.unanswered) == (1, 1, 0)
    addressed, not_addressed = answer.alert_outcomes
    assert (addressed.group, addressed.alerts) == (AlertGroup.ADDRESSED, 1)
    assert addressed.mean_sentiment_before == -0.75 and addressed.mean_sentiment_after == -0.75
    assert addressed.mean_change == 0.0
    assert (not_addressed.alerts, not_addressed.mean_sentiment_after) == (1, None)
    assert not_addressed.mean_final_csat == facts[1].cx.csat.value


def test_every_table_of_the_report_has_its_row_model():
    fields = AnalyticsReport.model_fields
    assert set(ROW_MODELS) == set(AnalyticsTable)
    for table, model in ROW_MODELS.items():
        assert fields[table.value].annotation == list[model]
