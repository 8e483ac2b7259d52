"""What the text-contact endpoints (`web.contacts`) take and answer: pydantic at the edge,
turned into the typed `live.contacts.ContactMessage` before anything else sees it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import (
    AlertAcked,
    AlertMessage,
    CallSummary,
    UtteranceMessage,
)
from sentiment_svc.domain.vocabulary import CallStatus, Channel, ContactChannel, Language
from sentiment_svc.live.contacts import ContactMessage

MAX_BODY_CHARS = 100_000  # an e-mail body with its quoted thread, before stripping
MAX_ID_CHARS = 200


class MessageIn(BaseModel):
    """One message of a chat, messenger or e-mail contact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=MAX_ID_CHARS,
                             description="a CRM id, or a phone number (stored keyed)")
    operator_id: str = Field(min_length=1, max_length=MAX_ID_CHARS,
                             description="whose console shows the contact")
    channel: Literal["chat", "messenger", "email"]
    sender: Channel = Field(description="customer or operator")
    text: str = Field(min_length=1, max_length=MAX_BODY_CHARS,
                      description="plain text; an e-mail body may carry quotes and signature")
    sent_at: datetime | None = Field(
        default=None, description="ISO-8601 or epoch seconds (no zone: UTC); default now"
    )
    language: Language = Field(default=Language.AUTO, description="ru, uk or auto")

    def typed(self, contact_id: str) -> ContactMessage:
        sent_at = None
        if self.sent_at is not None:
            moment = self.sent_at
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            sent_at = moment.timestamp()
        return ContactMessage(
            contact_id=contact_id, customer_id=self.customer_id, operator_id=self.operator_id,
            channel=ContactChannel(self.channel), sender=self.sender, text=self.text,
            sent_at=sent_at, language=self.language,
        )


class ChatMessageIn(MessageIn):
    """A live chat socket's message: a message of the contact ..."""

    type: Literal["message"]


class ChatEndIn(BaseModel):
    """... or the end of the contact."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["end"]


class MessageOut(BaseModel):
    """What the message came to: its analysis, and the alerts and acknowledgements it
    caused (the same messages the operator's console receives)."""

    type: Literal["accepted"] = "accepted"
    contact_id: str
    utterance: UtteranceMessage
    alerts: list[AlertMessage] = []
    acked: list[AlertAcked] = []


class ContactEndOut(BaseModel):
    type: Literal["ended"] = "ended"
    contact_id: str
    status: CallStatus
    summary: CallSummary | None
