"""The short Russian texts the CRM adapters write into a CRM card (the product's contact
centres work in Russian and Ukrainian; a CRM shows one language to everybody)."""

from __future__ import annotations

from sentiment_svc.domain.vocabulary import AckOutcome, Action
from sentiment_svc.domain.webhooks import AlertEvent, AlertOutcome, ContactEndedEvent

ACTIONS = {
    Action.APOLOGY: "извиниться",
    Action.BONUS: "предложить бонус",
    Action.SUPERVISOR: "позвать руководителя",
    Action.THANK: "поблагодарить",
}
OUTCOMES = {
    AckOutcome.APOLOGISED: "извинился",
    AckOutcome.OFFERED_BONUS: "предложил бонус",
    AckOutcome.CALLED_SUPERVISOR: "позвал руководителя",
    AckOutcome.DISMISSED: "отклонил",
}
UNANSWERED = "без ответа"
MAX_QUOTE_CHARS = 200


def alert_text(event: AlertEvent) -> str:
    quote = " / ".join(event.evidence)[:MAX_QUOTE_CHARS]
    text = f"Подсказка оператору ({event.severity}): {ACTIONS[event.action]}. {event.reason}"
    return f"{text}. «{quote}»" if quote else text


def ack_text(action: Action, outcome: AckOutcome) -> str:
    return f"Подсказка «{ACTIONS[action]}»: оператор {OUTCOMES[outcome]}"


def outcome_line(alert: AlertOutcome) -> str:
    answers = ", ".join(OUTCOMES[o] for o in alert.outcomes) or UNANSWERED
    return f"{ACTIONS[alert.action]} ({alert.severity}, {alert.t:.0f} с): {answers}"


def summary_text(event: ContactEndedEvent) -> str:
    """One paragraph: how the contact went and what each alert got."""
    parts = [f"Звонок {event.duration:.0f} с"]
    if event.summary is not None:
        parts.append(f"негатив {event.summary.negative_share:.0%}, "
                     f"оценка CSAT ≈ {event.summary.csat_estimate:.1f}/5")
    if event.alerts:
        parts.append("подсказки: " + "; ".join(outcome_line(a) for a in event.alerts))
    else:
        parts.append("подсказок не было")
    return "; ".join(parts)
