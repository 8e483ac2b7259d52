"""Building stored contacts (`domain.records.CallDetail`) for the CX tests: as records for
the rules' unit tests, and through the store's API for the REST and page tests (a seeded
week of calls with realistic ru/uk utterances, prompts and acknowledgements)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentiment_svc.domain.messages import CallSummary, SentimentScores
from sentiment_svc.domain.records import (
    CallDetail,
    StoredAck,
    StoredAlert,
    StoredDtmf,
    StoredUtterance,
)
from sentiment_svc.domain.vocabulary import Action, CallStatus, Category, Channel, Severity

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday

NEGATIVE = SentimentScores(neg=0.8, neu=0.15, pos=0.05)  # balance -0.75
NEUTRAL = SentimentScores(neg=0.1, neu=0.8, pos=0.1)  # balance 0
POSITIVE = SentimentScores(neg=0.05, neu=0.25, pos=0.7)  # balance 0.65


@dataclass
class Line:
    channel: Channel
    start: float
    text: str
    sentiment: SentimentScores = NEUTRAL
    categories: tuple[Category, ...] = ()
    length: float = 3.0


def customer(start: float, text: str, sentiment: SentimentScores = NEUTRAL,
             *categories: Category, length: float = 3.0) -> Line:
    return Line(Channel.CUSTOMER, start, text, sentiment, categories, length)


def operator(start: float, text: str, *categories: Category, length: float = 3.0) -> Line:
    return Line(Channel.OPERATOR, start, text, NEUTRAL, categories, length)


@dataclass
class Prompt:
    t: float
    action: Action
    severity: Severity = Severity.WARNING
    categories: tuple[Category, ...] = ()
    acks: tuple[tuple[str, float], ...] = ()  # (outcome, seconds_to_ack)
    reason: str = "The customer is upset"


@dataclass
class Contact:
    call_id: str
    lines: list[Line]
    prompts: list[Prompt] = field(default_factory=list)
    started_at: float = T0
    operator_id: str = "op-1"
    customer_id: str | None = "cust-1"
    status: CallStatus = CallStatus.COMPLETED
    duration: float | None = None
    keys: tuple[str, ...] = ()  # masked DTMF entries, e.g. "**1"

    @property
    def length(self) -> float:
        if self.duration is not None:
            return self.duration
        return max((line.start + line.length for line in self.lines), default=0.0) + 2.0

    def record(self) -> CallDetail:
        utterances = tuple(
            StoredUtterance(
                seq=seq, channel=line.channel, start=line.start, end=line.start + line.length,
                lang="ru", text=line.text, sentiment=line.sentiment,
                categories=line.categories, loudness_db=0.0, raised_voice=False,
            )
            for seq, line in enumerate(self.lines)
        )
        alerts = tuple(
            StoredAlert(
                alert_id=f"a{n}", t=p.t, action=p.action, severity=p.severity, reason=p.reason,
                evidence=(), categories=p.categories, created_at=self.started_at + p.t,
                acks=tuple(
                    StoredAck(operator_id=self.operator_id, outcome=outcome,
                              at=self.started_at + p.t + seconds, seconds_to_ack=seconds)
                    for outcome, seconds in p.acks
                ),
            )
            for n, p in enumerate(self.prompts)
        )
        categories = sorted({c for line in self.lines for c in line.categories}
                            | {c for p in self.prompts for c in p.categories})
        return CallDetail(
            call_id=self.call_id, operator_id=self.operator_id, customer_id=self.customer_id,
            language="ru", protocol="native", started_at=self.started_at, sample_rate=8000,
            channels=2, ended_at=self.started_at + self.length, status=self.status,
            summary=CallSummary(duration=self.length, utterances=len(utterances),
                                alerts=len(alerts), negative_share=0.0, csat_estimate=3.0),
            utterance_count=len(utterances), alert_count=len(alerts),
            categories=tuple(categories), recording=False, utterances=utterances,
            alerts=alerts,
            dtmf=tuple(StoredDtmf(t=float(n), channel=Channel.CUSTOMER, digits=digits)
                       for n, digits in enumerate(self.keys)),
        )

