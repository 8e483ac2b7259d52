"""The QA analytics tables over a window of days: CX measures per day, complaint
categories per day and per operator, prompt follow-through per day, and whether contacts
got better after an addressed prompt than after an unaddressed one.

Pure: it takes the finished contacts already measured (`ContactFacts`, built by `source`)
and returns `AnalyticsReport`, whose tables the REST API answers with, the page plots and
the CSV export writes, row for row and number for number. Days are UTC dates of the
contact's start; every day of the window has a row in the per-day tables (zeros included).
Queues are not stored for calls, so complaints are broken down per operator only.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from sentiment_svc.cx.followthrough import AlertFollowThrough, rounded
from sentiment_svc.cx.measures import ContactCx, CxRecord, RiskBand
from sentiment_svc.domain.records import CallDetail
from sentiment_svc.domain.vocabulary import COMPLAINT_CATEGORIES, Category


@dataclass(frozen=True)
class ContactFacts:
    """One finished contact with its measures and its prompts' follow-through."""

    call: CallDetail
    cx: ContactCx
    alerts: tuple[AlertFollowThrough, ...]

    @property
    def day(self) -> str:
        return day_of(self.call.started_at)


class AlertGroup(StrEnum):
    ADDRESSED = "addressed"  # acknowledged with the deed, or heard doing it
    NOT_ADDRESSED = "not_addressed"  # dismissed or left unanswered


class ContactRow(CxRecord):
    call_id: str
    day: str
    operator_id: str
    csat: float
    effort: float
    nps_risk: RiskBand
    nps_points: float


class DayCxRow(CxRecord):
    day: str
    contacts: int
    mean_csat: float | None
    mean_effort: float | None
    high_risk: int
    medium_risk: int
    low_risk: int


class ComplaintDayRow(CxRecord):
    day: str
    category: Category
    contacts: int = Field(description="contacts in which the category came up")


class ComplaintOperatorRow(CxRecord):
    operator_id: str
    category: Category
    contacts: int


class FollowThroughRow(CxRecord):
    day: str
    alerts: int = Field(description="prompts asking for a deed (thank prompts left out)")
    acknowledged: int
    addressed_in_speech: int
    dismissed: int
    unanswered: int
    mean_seconds_to_address: float | None = Field(description="over those addressed in speech")
    mean_seconds_to_ack: float | None = Field(description="over those acknowledged")


class OutcomeRow(CxRecord):
    group: AlertGroup
    alerts: int
    mean_sentiment_before: float | None = Field(description="customer pos-neg, -1..1")
    mean_sentiment_after: float | None
    mean_change: float | None = Field(description="over prompts with tone on both sides")
    mean_final_csat: float | None = Field(description="the prompt's contact's predicted CSAT")


class AnalyticsReport(BaseModel):
    since: float = Field(description="UTC epoch seconds, inclusive")
    until: float = Field(description="UTC epoch seconds, exclusive")
    operator_id: str | None
    days: list[str] = Field(description="the window's UTC dates, oldest first")
    contacts: list[ContactRow]
    cx_by_day: list[DayCxRow]
    complaints_by_day: list[ComplaintDayRow]
    complaints_by_operator: list[ComplaintOperatorRow]
    follow_through_by_day: list[FollowThroughRow]
    alert_outcomes: list[OutcomeRow]


class AnalyticsTable(StrEnum):
    """The report's tables, by the field that holds each (also the CSV export's names)."""

    CONTACTS = "contacts"
    CX_BY_DAY = "cx_by_day"
    COMPLAINTS_BY_DAY = "complaints_by_day"
    COMPLAINTS_BY_OPERATOR = "complaints_by_operator"
    FOLLOW_THROUGH_BY_DAY = "follow_through_by_day"
    ALERT_OUTCOMES = "alert_outcomes"


ROW_MODELS: dict[AnalyticsTable, type[CxRecord]] = {
    AnalyticsTable.CONTACTS: ContactRow,
    AnalyticsTable.CX_BY_DAY: DayCxRow,
    AnalyticsTable.COMPLAINTS_BY_DAY: ComplaintDayRow,
    AnalyticsTable.COMPLAINTS_BY_OPERATOR: ComplaintOperatorRow,
    AnalyticsTable.FOLLOW_THROUGH_BY_DAY: FollowThroughRow,
    AnalyticsTable.ALERT_OUTCOMES: OutcomeRow,
}
"""Each table's row: its fields are the CSV's columns, in order."""


def day_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def window_days(since: float, until: float) -> list[str]:
    """Every UTC date with a moment in [since, until)."""
    first = datetime.fromtimestamp(since, UTC).date()
    last = datetime.fromtimestamp(max(since, until - 1e-6), UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def report(contacts: list[ContactFacts], since: float, until: float,
           operator_id: str | None = None) -> AnalyticsReport:
    days = window_days(since, until)
    contacts = sorted(contacts, key=lambda c: (c.call.started_at, c.call.call_id))
    return AnalyticsReport(
        since=since, until=until, operator_id=operator_id, days=days,
        contacts=[_contact_row(c) for c in contacts],
        cx_by_day=[_day_cx(day, [c for c in contacts if c.day == day]) for day in days],
        complaints_by_day=[
            ComplaintDayRow(day=day, category=category, contacts=n)
            for (day, category), n in sorted(_complaints(contacts, by_day=True).items(),
                                             key=_category_order)
        ],
        complaints_by_operator=[
            ComplaintOperatorRow(operator_id=operator, category=category, contacts=n)
            for (operator, category), n in sorted(_complaints(contacts, by_day=False).items(),
                                                  key=_category_order)
        ],
        follow_through_by_day=[
            _follow_through(day, [a for c in contacts if c.day == day for a in c.alerts])
            for day in days
        ],
        alert_outcomes=[_outcome(group, contacts) for group in AlertGroup],
    )


def _contact_row(contact: ContactFacts) -> ContactRow:
    cx = contact.cx
    return ContactRow(
        call_id=contact.call.call_id, day=contact.day, operator_id=contact.call.operator_id,
        csat=cx.csat.value, effort=cx.effort.value, nps_risk=cx.nps_risk.band,
        nps_points=cx.nps_risk.points,
    )


def _day_cx(day: str, contacts: list[ContactFacts]) -> DayCxRow:
    bands = Counter(c.cx.nps_risk.band for c in contacts)
    return DayCxRow(
        day=day, contacts=len(contacts),
        mean_csat=_mean(c.cx.csat.value for c in contacts),
        mean_effort=_mean(c.cx.effort.value for c in contacts),
        high_risk=bands[RiskBand.HIGH], medium_risk=bands[RiskBand.MEDIUM],
        low_risk=bands[RiskBand.LOW],
    )


def _complaints(contacts: list[ContactFacts], *, by_day: bool) -> Counter[tuple[str, Category]]:
    counts: Counter[tuple[str, Category]] = Counter()
    for contact in contacts:
        key = contact.day if by_day else contact.call.operator_id
        for category in COMPLAINT_CATEGORIES:
            if category in contact.call.categories:
                counts[(key, category)] += 1
    return counts


def _category_order(item: tuple[tuple[str, Category], int]) -> tuple[str, int]:
    (key, category), _ = item
    return key, COMPLAINT_CATEGORIES.index(category)


def _follow_through(day: str, alerts: list[AlertFollowThrough]) -> FollowThroughRow:
    return FollowThroughRow(
        day=day, alerts=len(alerts),
        acknowledged=sum(a.acknowledged for a in alerts),
        addressed_in_speech=sum(a.addressed_in_speech for a in alerts),
        dismissed=sum(a.dismissed for a in alerts),
        unanswered=sum(a.unanswered for a in alerts),
        mean_seconds_to_address=_mean(
            a.seconds_to_address for a in alerts if a.seconds_to_address is not None
        ),
        mean_seconds_to_ack=_mean(a.seconds_to_ack for a in alerts if a.seconds_to_ack is not None),
    )


def _outcome(group: AlertGroup, contacts: list[ContactFacts]) -> OutcomeRow:
    wanted = group is AlertGroup.ADDRESSED
    pairs = [(c, a) for c in contacts for a in c.alerts if a.addressed == wanted]
    both = [a for _, a in pairs if a.sentiment_before is not None and a.sentiment_after is not None]
    return OutcomeRow(
        group=group, alerts=len(pairs),
        mean_sentiment_before=_mean(
            a.sentiment_before for _, a in pairs if a.sentiment_before is not None
        ),
        mean_sentiment_after=_mean(
            a.sentiment_after for _, a in pairs if a.sentiment_after is not None
        ),
        mean_change=_mean(a.sentiment_after - a.sentiment_before for a in both),  # type: ignore[operator]
        mean_final_csat=_mean(c.cx.csat.value for c, _ in pairs),
    )


def _mean(values) -> float | None:
    values = list(values)
    return rounded(statistics.fmean(values)) if values else None

