"""One customer across channels: the timeline of their contacts (calls and text contacts)
and the card an operator sees as a new contact starts.

A complaint category a contact raised counts as resolved when, after the customer last
raised it, the customer thanked (gratitude) or an alert quoting it was answered with
something other than `dismissed` (an apology, a bonus, the supervisor: clicked or heard).
Otherwise it stays open: «chat yesterday, not resolved: money». Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from sentiment_svc.domain.messages import (
    CallSummary,
    CardContact,
    CustomerCard,
    OpenComplaint,
)
from sentiment_svc.domain.records import Record, StoredAlert, StoredUtterance
from sentiment_svc.domain.vocabulary import (
    COMPLAINT_CATEGORIES,
    AckOutcome,
    CallStatus,
    Category,
    Channel,
    ContactChannel,
    ContactOutcome,
)

CARD_DAYS = 30  # the card shows the contacts of this many days before the new one
CARD_CONTACTS = 10  # at most this many of them, newest first


class CurvePoint(Record):
    t: float = Field(description="seconds from the contact's start")
    value: float = Field(description="the customer's mood: positive minus negative, -1..1")


class TimelineAlert(Record):
    alert_id: str
    t: float = Field(description="seconds from the contact's start")
    action: str
    severity: str
    reason: str
    categories: tuple[Category, ...]
    outcome: AckOutcome | None = Field(description="the last answer to it; null: none")
    seconds_to_ack: float | None


class TimelineContact(Record):
    contact_id: str = Field(description="the call id, or the text contact's id")
    channel: ContactChannel
    operator_id: str
    started_at: float = Field(description="UTC epoch seconds")
    ended_at: float | None
    status: CallStatus
    sentiment_curve: tuple[CurvePoint, ...] = Field(description="per customer utterance")
    complaints: tuple[Category, ...] = Field(description="complaint categories raised")
    unresolved: tuple[Category, ...] = Field(description="of those, the ones left open")
    outcome: ContactOutcome
    alerts: tuple[TimelineAlert, ...]
    summary: CallSummary | None


class CustomerTimeline(Record):
    customer_id: str
    contacts: tuple[TimelineContact, ...] = Field(description="newest first")


def unresolved_complaints(
    utterances: Sequence[StoredUtterance], alerts: Sequence[StoredAlert]
) -> tuple[tuple[Category, ...], tuple[Category, ...]]:
    """(complaints raised, those left open) by one contact, in the order first raised."""
    raised: dict[Category, float] = {}  # category -> the end of the last utterance with it
    thanked_at: float | None = None
    for utterance in utterances:
        if utterance.channel is not Channel.CUSTOMER:
            continue
        for category in utterance.categories:
            if category in COMPLAINT_CATEGORIES:
                raised[category] = utterance.end
            elif category is Category.GRATITUDE:
                thanked_at = utterance.end
    answered: dict[Category, float] = {}
    for alert in alerts:
        if any(ack.outcome is not AckOutcome.DISMISSED for ack in alert.acks):
            for category in alert.categories:
                answered[category] = max(answered.get(category, alert.t), alert.t)
    open_ = tuple(
        category for category, last in raised.items()
        if not (thanked_at is not None and thanked_at >= last)
        and not answered.get(category, -1.0) >= last
    )
    return tuple(raised), open_


def outcome_of(complaints: Sequence[Category], unresolved: Sequence[Category]) -> ContactOutcome:
    if not complaints:
        return ContactOutcome.NO_COMPLAINT
    return ContactOutcome.UNRESOLVED if unresolved else ContactOutcome.RESOLVED


def customer_card(
    timeline: CustomerTimeline, *, call_id: str, operator_id: str, channel: ContactChannel,
    customer_label: str | None = None, days: int = CARD_DAYS,
) -> CustomerCard:
    """The card for a contact starting now, from the customer's earlier contacts."""
    contacts = timeline.contacts
    open_complaints: dict[Category, OpenComplaint] = {}
    for contact in reversed(contacts):  # oldest first: the newest raising wins
        for category in contact.unresolved:
            before = open_complaints.get(category)
            open_complaints[category] = OpenComplaint(
                category=category, channel=contact.channel, raised_at=contact.started_at,
                contacts=1 if before is None else before.contacts + 1,
            )
    return CustomerCard(
        call_id=call_id, operator_id=operator_id, customer_id=timeline.customer_id,
        customer_label=customer_label, channel=channel, days=days,
        contacts=tuple(_card_contact(contact) for contact in contacts[:CARD_CONTACTS]),
        open_complaints=tuple(
            sorted(open_complaints.values(), key=lambda c: c.raised_at, reverse=True)
        ),
        last_outcome=contacts[0].outcome if contacts else None,
        repeat_count=len(contacts),
    )


def _card_contact(contact: TimelineContact) -> CardContact:
    answered = [alert.outcome for alert in contact.alerts if alert.outcome is not None]
    return CardContact(
        contact_id=contact.contact_id, channel=contact.channel, started_at=contact.started_at,
        status=contact.status, outcome=contact.outcome, unresolved=contact.unresolved,
        last_ack=answered[-1] if answered else None,
    )
