"""What the store keeps about a call and gives back: the shapes of search, replay, export
and the REST API. Utterances and alerts read like the live feed's messages, plus their
store ids; wall-clock times are UTC epoch seconds, in-call times seconds from the start.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import CallSummary, SentimentScores
from sentiment_svc.domain.vocabulary import (
    AckOutcome,
    Action,
    CallStatus,
    Category,
    Channel,
    Language,
    Protocol,
    Severity,
)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallOpened(Record):
    """What is known when a call starts."""

    call_id: str
    operator_id: str
    customer_id: str | None = Field(description="a phone number is stored as a keyed hash")
    customer_label: str | None = Field(
        default=None, description="a caller's number masked for people: +7 916 *** ** 42"
    )
    language: Language
    protocol: Protocol
    started_at: float = Field(description="UTC epoch seconds")
    sample_rate: int
    channels: int
    instance_id: str | None = Field(
        default=None, description="the instance running it (a cluster); null when embedded"
    )


class StoredUtterance(Record):
    seq: int = Field(description="0, 1, 2... in the order the utterances were stored")
    channel: Channel
    start: float = Field(description="seconds from the call start")
    end: float = Field(description="seconds from the call start")
    lang: str
    text: str
    sentiment: SentimentScores
    categories: tuple[Category, ...]
    loudness_db: float = Field(description="relative to the speaker's own baseline")
    raised_voice: bool


class StoredAck(Record):
    operator_id: str
    outcome: AckOutcome
    at: float = Field(description="UTC epoch seconds")
    seconds_to_ack: float


class StoredAlert(Record):
    alert_id: str
    t: float = Field(description="seconds from the call start")
    action: Action
    severity: Severity
    reason: str
    evidence: tuple[str, ...]
    categories: tuple[Category, ...] = Field(description="what the evidence said")
    created_at: float = Field(description="UTC epoch seconds")
    acks: tuple[StoredAck, ...]


class StoredDtmf(Record):
    t: float = Field(description="seconds from the call start")
    channel: Channel | None
    digits: str = Field(description="masked: key presses carry card numbers and PINs")


class StoredCall(CallOpened):
    ended_at: float | None = Field(description="UTC epoch seconds; null while live")
    status: CallStatus
    summary: CallSummary | None
    utterance_count: int
    alert_count: int
    categories: tuple[Category, ...] = Field(
        description="every category an utterance or alert carried"
    )
    recording: bool = Field(description="whether GET .../recording has audio")


class CallDetail(StoredCall):
    utterances: tuple[StoredUtterance, ...]
    alerts: tuple[StoredAlert, ...]
    dtmf: tuple[StoredDtmf, ...] = ()


class CustomerPast(Record):
    """What a customer's finished calls since some moment left."""

    previous_calls: int
    negative_calls: int
    categories: dict[Category, int] = Field(description="category -> calls it came up in")
