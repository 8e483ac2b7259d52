"""A seeded week of calls written through the store's API, as the live pipeline writes them:
ru and uk utterances with their analysis, prompts, console acks, deeds heard in the
operator's speech (stored as the ack of the prompt's action, like `live.call` does),
dismissals, holds, key presses, and returning customers.

Six scenarios, rotated over three operators and five customers, 3 to 5 calls a day for
seven days from `WEEK_START` (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentiment_svc.domain.messages import CallSummary, Dtmf
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import (
    OUTCOME_OF_ACTION,
    Action,
    CallStatus,
    Category,
    Channel,
    Severity,
)
from sentiment_svc.frames import Alert, Sentiment, UtteranceAnalysis
from sentiment_svc.storage.base import CallRepository

WEEK_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY_S = 86_400.0
OPERATORS = ("op-1", "op-2", "op-3")
CUSTOMERS = tuple(f"cust-{n}" for n in range(1, 6))
C = Category
BAD, MEH, GOOD = Sentiment(0.85, 0.1, 0.05), Sentiment(0.15, 0.7, 0.15), Sentiment(0.05, 0.2, 0.75)


@dataclass
class Say:
    start: float
    channel: Channel
    text: str
    sentiment: Sentiment = MEH
    categories: tuple[Category, ...] = ()
    length: float = 3.0


@dataclass
class Fire:
    """A prompt fired at `t`; `ack`: the console's answer and how long it took."""

    t: float
    action: Action
    severity: Severity
    reason: str
    ack: tuple[str, float] | None = None
    heard_at: float | None = None  # the operator's deed ended here: stored as its ack


@dataclass
class Scenario:
    name: str
    language: str
    lines: list[Say]
    prompts: list[Fire] = field(default_factory=list)
    keys: tuple[str, ...] = ()
    status: CallStatus = CallStatus.COMPLETED


def cust(start, text, sentiment=MEH, *categories, length=3.0) -> Say:
    return Say(start, Channel.CUSTOMER, text, sentiment, categories, length)


def oper(start, text, *categories, length=3.0) -> Say:
    return Say(start, Channel.OPERATOR, text, MEH, categories, length)


SCENARIOS = (
    Scenario("calm_thanks", "uk", [
        oper(0, "Добрий день, банк «Розвиток», чим можу допомогти?"),
        cust(4, "Підкажіть, будь ласка, як змінити ліміт на картці"),
        oper(8, "Ліміт можна змінити в застосунку, у розділі «Картки»", length=5),
        cust(14, "Дякую, все зрозуміло", GOOD, C.GRATITUDE),
    ]),
    Scenario("money_heard_apology", "ru", [
        oper(0, "Здравствуйте, банк «Развитие», слушаю вас"),
        cust(3, "С меня дважды списали деньги за одну покупку", BAD, C.MONEY, length=4),
        cust(8, "Верните мои деньги немедленно!", BAD, C.MONEY),  # ends at 11: the prompt
        oper(13, "Приношу извинения, сейчас оформлю возврат", C.OPERATOR_APOLOGISED),
        cust(17, "Хорошо, спасибо, что быстро", GOOD, C.GRATITUDE),
    ], [Fire(11.0, Action.APOLOGY, Severity.WARNING, "The customer is upset", heard_at=16.0)]),
    Scenario("supervisor_clicked", "ru", [
        oper(0, "Добрый день, слушаю вас"),
        cust(3, "Мне уже неделю не могут помочь", BAD, C.NOT_HELPED),
        cust(7, "Позовите руководителя!", BAD, C.ESCALATION_REQUEST),  # ends at 10
        oper(12, "Соединяю вас с руководителем", C.OPERATOR_TRANSFERRED),
        cust(16, "Ну наконец-то", MEH),
    ], [Fire(10.0, Action.SUPERVISOR, Severity.CRITICAL,
             "The customer asks for a supervisor or threatens legal action",
             ack=("called_supervisor", 4.5), heard_at=15.0)]),
    Scenario("waiting_dismissed", "uk", [
        oper(0, "Добрий день"),
        cust(3, "Я пів години чекаю на лінії", BAD, C.WAITING),
        cust(7, "Ви мені нічим не допомогли", BAD, C.NOT_HELPED),  # ends at 10
        oper(12, "Зачекайте, будь ласка, я перевірю", length=2),
        # 14 s .. 40 s: on hold
        cust(40, "Я піду до іншого банку", BAD, C.CHURN_THREAT),
    ], [Fire(10.0, Action.APOLOGY, Severity.WARNING, "The customer is upset",
             ack=("dismissed", 2.0))]),
    Scenario("repeat_unanswered", "ru", [
        oper(0, "Здравствуйте"),
        cust(3, "Я уже третий раз звоню по поводу перевода", BAD, C.REPEAT_CONTACT),
        cust(7, "Где мои деньги?", BAD, C.MONEY),  # ends at 10
        oper(12, "Назовите, пожалуйста, номер договора"),
        cust(16, "Сколько можно ждать", BAD, C.WAITING),
    ], [Fire(10.0, Action.BONUS, Severity.WARNING,
             "The same money or repeat-contact complaint came up again")],
        keys=("**", "*1"), status=CallStatus.INTERRUPTED),
    Scenario("rudeness_heard_bonus", "uk", [
        oper(0, "Слухаю"),
        cust(2, "Ваш оператор минулого разу мені нагрубив", BAD, C.RUDENESS),  # ends at 5
        oper(7, "Перепрошую, нарахуємо вам бонус на рахунок", C.OPERATOR_APOLOGISED,
             C.OPERATOR_OFFERED_BONUS, length=4),
        cust(12, "Добре, дякую", GOOD, C.GRATITUDE),
    ], [Fire(5.0, Action.BONUS, Severity.WARNING,
             "The same money or repeat-contact complaint came up again",
             ack=("offered_bonus", 3.0), heard_at=11.0)]),
)


def calls_on(day: int) -> int:
    return 3 + day % 3


def seed_week(store: CallRepository, start: float = WEEK_START) -> list[str]:
    """Store the week's calls; return their ids, oldest first."""
    ids = []
    n = 0
    for day in range(7):
        for k in range(calls_on(day)):
            scenario = SCENARIOS[n % len(SCENARIOS)]
            call_id = f"d{day}-{k}-{scenario.name}"
            store_call(store, call_id, scenario, started_at=start + day * DAY_S + 3600 * (9 + k),
                       operator=OPERATORS[n % len(OPERATORS)],
                       customer=CUSTOMERS[n % len(CUSTOMERS)])
            ids.append(call_id)
            n += 1
    return ids


def store_call(store: CallRepository, call_id: str, scenario: Scenario, *, started_at: float,
               operator: str, customer: str | None) -> None:
    store.start_call(CallOpened(
        call_id=call_id, operator_id=operator, customer_id=customer,
        language=scenario.language, protocol="native", started_at=started_at,
        sample_rate=8000, channels=2,
    ))
    for n, digits in enumerate(scenario.keys):
        store.add_dtmf(call_id, Dtmf(t=1.0 + n, channel=Channel.CUSTOMER, digits=digits))
    fired = sorted(scenario.prompts, key=lambda p: p.t)
    for line in scenario.lines:
        while fired and fired[0].t <= line.start:
            _prompt(store, call_id, operator, started_at, fired.pop(0))
        store.add_utterance(call_id, UtteranceAnalysis(
            channel=line.channel, start=line.start, end=line.start + line.length,
            lang=scenario.language, text=line.text, sentiment=line.sentiment,
            categories=line.categories, loudness_db=0.0,
        ))
    for prompt in fired:
        _prompt(store, call_id, operator, started_at, prompt)
    duration = max(line.start + line.length for line in scenario.lines) + 2.0
    store.end_call(call_id, scenario.status, CallSummary(
        duration=duration, utterances=len(scenario.lines), alerts=len(scenario.prompts),
        negative_share=0.5, csat_estimate=3.0,
    ), started_at + duration)


def _prompt(store: CallRepository, call_id: str, operator: str, started_at: float,
            prompt: Fire) -> None:
    evidence = ("…",)
    alert_id = store.add_alert(call_id, Alert(
        t=prompt.t, action=prompt.action, severity=prompt.severity, reason=prompt.reason,
        evidence=evidence,
    ), created_at=started_at + prompt.t)
    if prompt.ack is not None:
        outcome, seconds = prompt.ack
        store.add_ack(call_id, alert_id, operator, outcome, started_at + prompt.t + seconds,
                      seconds)
    if prompt.heard_at is not None:
        seconds = prompt.heard_at - prompt.t
        store.add_ack(call_id, alert_id, operator, OUTCOME_OF_ACTION[prompt.action],
                      started_at + prompt.heard_at, seconds)
