"""Response models of the REST API (`sentiment_svc.web.rest`): the OpenAPI schema's shapes.

They mirror what `CallStore` returns: utterances and alerts in the event shape of
`sentiment_svc.events`, wall-clock times as UTC epoch seconds, in-call times as seconds
from the call start.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CallStatus = Literal["live", "completed", "interrupted", "failed"]
AckOutcome = Literal["apologised", "offered_bonus", "called_supervisor", "dismissed"]


class ErrorOut(BaseModel):
    detail: str


class SentimentOut(BaseModel):
    neg: float
    neu: float
    pos: float


class UtteranceOut(BaseModel):
    seq: int = Field(description="0, 1, 2... in the order the utterances were stored")
    channel: str = Field(description="customer | operator")
    start: float = Field(description="seconds from the call start")
    end: float = Field(description="seconds from the call start")
    lang: str
    text: str
    sentiment: SentimentOut
    categories: list[str]
    loudness_db: float = Field(description="relative to the speaker's own baseline")


class AckOut(BaseModel):
    operator_id: str
    outcome: AckOutcome
    at: float = Field(description="UTC epoch seconds")
    seconds_to_ack: float


class AlertOut(BaseModel):
    alert_id: str
    t: float = Field(description="seconds from the call start")
    action: str = Field(description="apology | bonus | supervisor | thank")
    severity: str = Field(description="info | warning | critical")
    reason: str
    evidence: list[str]
    categories: list[str]
    created_at: float = Field(description="UTC epoch seconds")
    acks: list[AckOut]


class SummaryOut(BaseModel):
    """The call's summary event (extra fields are passed through)."""

    model_config = ConfigDict(extra="allow")

    duration: float | None = None
    utterances: int | None = None
    alerts: int | None = None
    negative_share: float | None = None
    csat_estimate: float | None = None


class CallOut(BaseModel):
    call_id: str
    operator_id: str
    customer_id: str | None
    language: str
    protocol: str
    sample_rate: int
    channels: int
    started_at: float = Field(description="UTC epoch seconds")
    ended_at: float | None = Field(description="UTC epoch seconds; null while live")
    status: CallStatus
    summary: SummaryOut | None
    utterance_count: int
    alert_count: int
    categories: list[str] = Field(description="every category an utterance or alert carried")
    recording: bool = Field(description="whether GET .../recording has audio")


class CallDetail(CallOut):
    utterances: list[UtteranceOut]
    alerts: list[AlertOut]


class CallPage(BaseModel):
    calls: list[CallOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class ErasureOut(BaseModel):
    customer_id: str
    deleted_calls: int
