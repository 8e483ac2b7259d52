"""What became of each prompt (alert) of a stored contact: acknowledged, addressed in the
operator's speech (and how long that took), dismissed, or left unanswered, and the
customer's tone just before and just after it.

The store keeps acks (`domain.records.StoredAck`: a console click, or the ack the live call
stored when it heard the operator do it) but not which of the two an ack was, so "addressed
in speech" is derived again from the stored utterances by the rule `alerts.state` applies
live: the first operator utterance ending at or after the alert whose categories carry out
the alert's action (`domain.vocabulary.ADDRESSES`). ``thank`` prompts ask for nothing to be
fixed and are left out (the live state never waits for them either).
"""

from __future__ import annotations

from pydantic import Field

from sentiment_svc.cx.measures import CxRecord
from sentiment_svc.domain.records import CallDetail, StoredAlert, StoredUtterance
from sentiment_svc.domain.vocabulary import ADDRESSES, AckOutcome, Action, Channel, Severity

SENTIMENT_WINDOW = 3  # customer utterances averaged on each side of a prompt
DECIMALS = 3


class AlertFollowThrough(CxRecord):
    alert_id: str
    t: float = Field(description="seconds from the contact start")
    action: Action
    severity: Severity
    acknowledged: bool = Field(description="an ack other than dismissed: clicked or heard")
    addressed_in_speech: bool
    dismissed: bool
    seconds_to_ack: float | None = Field(description="the first ack that was not dismissed")
    seconds_to_address: float | None = Field(description="alert to the operator's deed")
    sentiment_before: float | None = Field(
        description="mean customer pos-neg over the last utterances ending by the alert"
    )
    sentiment_after: float | None = Field(
        description="mean customer pos-neg over the first utterances starting after it"
    )

    @property
    def addressed(self) -> bool:
        """Acted on: acknowledged with the suggested deed or heard doing it."""
        return self.acknowledged or self.addressed_in_speech

    @property
    def unanswered(self) -> bool:
        return not (self.addressed or self.dismissed)


def rounded(value: float) -> float:
    """`DECIMALS` places, and never -0.0 (which a CSV and a page would print apart)."""
    return round(value, DECIMALS) + 0.0


def balance(utterance: StoredUtterance) -> float:
    """The utterance's tone: positive minus negative, -1..1."""
    return utterance.sentiment.pos - utterance.sentiment.neg


def mean_balance(utterances: list[StoredUtterance]) -> float | None:
    if not utterances:
        return None
    return rounded(sum(balance(u) for u in utterances) / len(utterances))


def answerable(alerts: tuple[StoredAlert, ...]) -> list[StoredAlert]:
    """The prompts that ask the operator to do something (all but ``thank``)."""
    return [alert for alert in alerts if alert.action is not Action.THANK]


def follow_through(call: CallDetail) -> tuple[AlertFollowThrough, ...]:
    customer = sorted(
        (u for u in call.utterances if u.channel is Channel.CUSTOMER), key=lambda u: u.start
    )
    operator = sorted(
        (u for u in call.utterances if u.channel is Channel.OPERATOR), key=lambda u: u.end
    )
    return tuple(_one(alert, customer, operator) for alert in answerable(call.alerts))


def _one(
    alert: StoredAlert, customer: list[StoredUtterance], operator: list[StoredUtterance]
) -> AlertFollowThrough:
    deed = next(
        (u for u in operator
         if u.end >= alert.t and any(ADDRESSES.get(c) is alert.action for c in u.categories)),
        None,
    )
    taken = [ack for ack in alert.acks if ack.outcome is not AckOutcome.DISMISSED]
    before = [u for u in customer if u.end <= alert.t][-SENTIMENT_WINDOW:]
    after = [u for u in customer if u.start >= alert.t][:SENTIMENT_WINDOW]
    return AlertFollowThrough(
        alert_id=alert.alert_id, t=alert.t, action=alert.action, severity=alert.severity,
        acknowledged=bool(taken),
        addressed_in_speech=deed is not None,
        dismissed=any(ack.outcome is AckOutcome.DISMISSED for ack in alert.acks),
        seconds_to_ack=rounded(min(a.seconds_to_ack for a in taken)) if taken else None,
        seconds_to_address=None if deed is None else rounded(deed.end - alert.t),
        sentiment_before=mean_balance(before),
        sentiment_after=mean_balance(after),
    )
