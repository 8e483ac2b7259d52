"""When a contact's complaint counts as resolved, and what the customer card says."""

from __future__ import annotations

from sentiment_svc.domain.customers import (
    CustomerTimeline,
    TimelineContact,
    customer_card,
    outcome_of,
    unresolved_complaints,
)
from sentiment_svc.domain.messages import SentimentScores
from sentiment_svc.domain.records import StoredAck, StoredAlert, StoredUtterance

NEG = SentimentScores(neg=0.8, neu=0.1, pos=0.1)


def said(seq: int, end: float, *categories: str, channel: str = "customer") -> StoredUtterance:
    return StoredUtterance(seq=seq, channel=channel, start=end - 1, end=end, lang="ru",
                           text="…", sentiment=NEG, categories=categories, loudness_db=0.0,
                           raised_voice=False)


def alert(t: float, *categories: str, outcome: str | None = None) -> StoredAlert:
    acks = () if outcome is None else (
        StoredAck(operator_id="op", outcome=outcome, at=0.0, seconds_to_ack=1.0),)
    return StoredAlert(alert_id=f"a{t}", t=t, action="apology", severity="warning",
                       reason="r", evidence=(), categories=categories, created_at=0.0,
                       acks=acks)


def test_a_complaint_stays_open_until_answered_or_thanked_after_it() -> None:
    utterances = [said(0, 2, "money"), said(1, 4, "not_helped"), said(2, 6, "waiting"),
                  said(3, 8, "money"), said(4, 9, "operator_apologised", channel="operator")]
    alerts = [alert(4.0, "not_helped", outcome="apologised"),  # answered: resolved
              alert(6.0, "waiting", outcome="dismissed"),  # dismissed: still open
              alert(2.0, "money", outcome="offered_bonus")]  # raised again after: open
    complaints, open_ = unresolved_complaints(utterances, alerts)
    assert complaints == ("money", "not_helped", "waiting")
    assert open_ == ("money", "waiting")
    assert outcome_of(complaints, open_) == "unresolved"


def test_thanks_after_the_last_complaint_resolve_it() -> None:
    complaints, open_ = unresolved_complaints(
        [said(0, 2, "money"), said(1, 5, "gratitude")], [])
    assert complaints == ("money",) and open_ == ()
    assert outcome_of(complaints, open_) == "resolved"
    assert outcome_of((), ()) == "no_complaint"


def contact(contact_id: str, channel: str, started_at: float, unresolved: tuple[str, ...],
            outcome: str) -> TimelineContact:
    return TimelineContact(
        contact_id=contact_id, channel=channel, operator_id="op", started_at=started_at,
        ended_at=started_at + 60, status="completed", sentiment_curve=(),
        complaints=unresolved or ("money",), unresolved=unresolved, outcome=outcome,
        alerts=(), summary=None,
    )


def test_the_card_names_each_open_complaint_where_it_was_last_raised() -> None:
    timeline = CustomerTimeline(customer_id="c", contacts=(
        contact("mail", "email", 300.0, ("money",), "unresolved"),
        contact("chat", "chat", 200.0, ("money", "waiting"), "unresolved"),
        contact("call", "phone", 100.0, (), "resolved"),
    ))
    card = customer_card(timeline, call_id="new", operator_id="op", channel="phone")
    assert card.type == "customer_card" and card.repeat_count == 3
    assert card.last_outcome == "unresolved"
    assert [c.contact_id for c in card.contacts] == ["mail", "chat", "call"]
    assert [(o.category, o.channel, o.contacts) for o in card.open_complaints] == [
        ("money", "email", 2), ("waiting", "chat", 1)]
