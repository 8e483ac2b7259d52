"""What a call publishes: to the operator console and the supervisor wall, to a QA replay,
and (without the call's ids) as `analyze`'s output lines. One frozen model per message,
told apart by ``type``; the JSON shape and its JSON Schema come from these (`codec`).

Times inside a call are seconds from its start; ``started_at`` is UTC epoch seconds.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.vocabulary import (
    AckOutcome,
    AckSource,
    Action,
    CallStatus,
    Category,
    Channel,
    ContactChannel,
    ContactOutcome,
    LevelName,
    Protocol,
    Severity,
)


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallMessage(Message):
    """About one call. Both ids are left out of `analyze`'s output (a file has none)."""

    call_id: str | None = None
    operator_id: str | None = None


class SentimentScores(Message):
    neg: float
    neu: float
    pos: float


class UtteranceMessage(CallMessage):
    """One recognised, analysed utterance."""

    type: Literal["utterance"] = "utterance"
    seq: int | None = Field(default=None, description="its number in the stored call")
    channel: Channel
    start: float
    end: float
    lang: str
    text: str
    sentiment: SentimentScores
    categories: tuple[Category, ...] = ()
    loudness_db: float = Field(description="dB over the speaker's own baseline so far")
    raised_voice: bool = False


class PartialMessage(CallMessage):
    """An interim transcript of an utterance still being spoken."""

    type: Literal["partial"] = "partial"
    channel: Channel
    start: float
    end: float
    lang: str
    text: str


class AlertMessage(CallMessage):
    """A suggested action, with the utterances that caused it."""

    type: Literal["alert"] = "alert"
    alert_id: str | None = Field(default=None, description="its id in the store")
    t: float = Field(description="the end of the utterance that triggered it")
    action: Action
    severity: Severity
    reason: str
    evidence: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()


class AlertAcked(CallMessage):
    """An alert was answered: clicked on the console, or heard done in the operator's speech
    (then with the time it took and what the operator said)."""

    type: Literal["alert_acked"] = "alert_acked"
    alert_id: str | None = None
    outcome: AckOutcome
    source: AckSource
    action: Action | None = None
    t: float | None = Field(default=None, description="end of the operator's utterance")
    alert_t: float | None = None
    seconds_to_address: float | None = None
    evidence: tuple[str, ...] = ()


class AlertDelivered(CallMessage):
    """The telephony platform confirmed it received an alert (a Twilio mark came back)."""

    type: Literal["alert_delivered"] = "alert_delivered"
    alert_id: str
    protocol: Protocol


class Dtmf(CallMessage):
    """A key pressed on the phone. Digits are personal data (card numbers, PINs): masked."""

    type: Literal["dtmf"] = "dtmf"
    t: float
    channel: Channel | None = None
    digits: str


class CallSummary(Message):
    """What a finished call came to."""

    type: Literal["summary"] = "summary"
    duration: float
    utterances: int
    alerts: int
    negative_share: float
    csat_estimate: float = Field(description="a rough 1..5 satisfaction guess")


class CallView(CallMessage):
    """A live call as the supervisor wall shows it."""

    type: Literal["call_state"] = "call_state"
    protocol: Protocol
    started_at: float
    duration: float = Field(description="seconds of the call's audio so far")
    level: LevelName
    score: float
    sentiment_trend: tuple[float, ...] = ()
    last_alert: AlertMessage | None = None
    contact_channel: ContactChannel | None = Field(
        default=None, description="a text contact's channel (chat, messenger, email); null: a call"
    )


class CallStarted(CallView):
    type: Literal["call_started"] = "call_started"  # type: ignore[assignment]


class CallEnded(CallView):
    type: Literal["call_ended"] = "call_ended"  # type: ignore[assignment]
    status: CallStatus
    summary: CallSummary | None = None


class ReplayStarted(CallView):
    type: Literal["replay_started"] = "replay_started"  # type: ignore[assignment]
    speed: float


class ReplayEnded(CallMessage):
    type: Literal["replay_ended"] = "replay_ended"
    summary: CallSummary


class CustomerHistory(CallMessage):
    """A returning customer: what their calls of the last `days` days left."""

    type: Literal["customer_history"] = "customer_history"
    customer_id: str
    customer_label: str | None = None  # a caller's number, masked
    days: int
    previous_calls: int
    negative_calls: int
    categories: dict[Category, int] = Field(description="category -> calls it came up in")


class CardContact(Message):
    contact_id: str
    channel: ContactChannel
    started_at: float
    status: CallStatus
    outcome: ContactOutcome
    unresolved: tuple[Category, ...]
    last_ack: AckOutcome | None = Field(description="how its last answered alert was answered")


class OpenComplaint(Message):
    category: Category
    channel: ContactChannel = Field(description="where it was last raised")
    raised_at: float = Field(description="UTC epoch seconds of that contact's start")
    contacts: int = Field(description="earlier contacts that raised it")


class CustomerCard(CallMessage):
    """A returning customer, in one glance, as a call or text contact starts."""

    type: Literal["customer_card"] = "customer_card"
    customer_id: str
    customer_label: str | None = None
    channel: ContactChannel = Field(description="the channel of the contact starting now")
    days: int
    contacts: tuple[CardContact, ...] = Field(description="earlier contacts, newest first")
    open_complaints: tuple[OpenComplaint, ...]
    last_outcome: ContactOutcome | None = Field(description="the newest earlier contact's")
    repeat_count: int = Field(description="earlier contacts in `days` days, any channel")


class FeedError(Message):
    """A console's message could not be taken; nothing changed."""

    type: Literal["error"] = "error"
    code: str
    message: str


FeedMessage = Annotated[
    UtteranceMessage | PartialMessage | AlertMessage | AlertAcked | AlertDelivered | Dtmf
    | CallView | CallStarted | CallEnded | ReplayStarted | ReplayEnded | CustomerHistory
    | CustomerCard | CallSummary | FeedError,
    Field(discriminator="type"),
]
"""Everything a feed, a replay or `analyze` sends."""


class AckRequest(Message):
    """Console -> service: the operator answered an alert."""

    type: Literal["ack"]
    call_id: str
    alert_id: str
    outcome: AckOutcome


class WatchRequest(Message):
    """Supervisor wall -> service: follow (or stop following) a call's transcript."""

    type: Literal["watch", "unwatch"]
    call_id: str


ConsoleRequest = Annotated[AckRequest | WatchRequest, Field(discriminator="type")]
"""Everything a console sends on its feed."""
