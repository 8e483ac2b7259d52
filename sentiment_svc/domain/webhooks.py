"""What the CRM webhooks say: one frozen model per event, told apart by ``type``.

The store builds these in the transaction that writes what they describe and keeps their
JSON in its outbox (`storage.outbox`); `sentiment_svc.crm` delivers them. Every event
carries its contact's identity and start, so a receiver (or an adapter) can act on any one
of them alone. Wall-clock times are UTC epoch seconds, in-call times seconds from the start.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sentiment_svc.domain.messages import CallSummary
from sentiment_svc.domain.vocabulary import (
    AckOutcome,
    Action,
    CallStatus,
    Category,
    Channel,
    ContactChannel,
    Severity,
)


class WebhookEventType(StrEnum):
    CONTACT_STARTED = "contact_started"
    ALERT = "alert"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    CONTACT_ENDED = "contact_ended"


class WebhookEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="unique per event; the Idempotency-Key of its delivery")
    occurred_at: float = Field(description="UTC epoch seconds")
    contact_id: str
    channel: ContactChannel = ContactChannel.PHONE
    operator_id: str
    customer_id: str | None = Field(description="a phone number arrives as a keyed hash")
    customer_label: str | None = Field(default=None, description="a caller's number, masked")
    started_at: float = Field(description="when the contact started, UTC epoch seconds")


class ContactStartedEvent(WebhookEvent):
    type: Literal["contact_started"] = "contact_started"
    language: str
    protocol: str


class AlertEvent(WebhookEvent):
    type: Literal["alert"] = "alert"
    alert_id: str
    t: float = Field(description="seconds from the contact's start")
    action: Action
    severity: Severity
    reason: str
    evidence: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()


class AlertAcknowledgedEvent(WebhookEvent):
    type: Literal["alert_acknowledged"] = "alert_acknowledged"
    alert_id: str
    action: Action
    outcome: AckOutcome
    acked_by: str = Field(description="the operator who answered it")
    seconds_to_ack: float


class TranscriptLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    start: float
    end: float
    text: str


class AlertOutcome(BaseModel):
    """An alert of an ended contact with every answer it got (none: unanswered)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    t: float
    action: Action
    severity: Severity
    reason: str
    outcomes: tuple[AckOutcome, ...] = ()


class ContactEndedEvent(WebhookEvent):
    type: Literal["contact_ended"] = "contact_ended"
    status: CallStatus
    ended_at: float
    duration: float = Field(description="seconds of the contact")
    summary: CallSummary | None = None
    alerts: tuple[AlertOutcome, ...] = ()
    transcript: tuple[TranscriptLine, ...] = ()


AnyWebhookEvent = Annotated[
    ContactStartedEvent | AlertEvent | AlertAcknowledgedEvent | ContactEndedEvent,
    Field(discriminator="type"),
]
WEBHOOK_EVENT: TypeAdapter[AnyWebhookEvent] = TypeAdapter(AnyWebhookEvent)
"""Parses an outbox payload (JSON) back into its event."""
