"""Every closed vocabulary of the product, defined once.

The values are the wire strings (`StrEnum`), so a member compares equal to its text and
serialises as it. Other modules derive their tuples, literals and checks from these.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Channel(StrEnum):
    CUSTOMER = "customer"
    OPERATOR = "operator"


class Language(StrEnum):
    """What a call is declared to speak; `auto` lets the recogniser choose per utterance."""

    RU = "ru"
    UK = "uk"
    AUTO = "auto"


CALL_LANGUAGES = (Language.RU.value, Language.UK.value)


class SentimentLabel(StrEnum):
    NEG = "neg"
    NEU = "neu"
    POS = "pos"


class Category(StrEnum):
    """What an utterance says: the customer's complaints (and thanks), the operator's deeds."""

    NOT_HELPED = "not_helped"
    REPEAT_CONTACT = "repeat_contact"
    WAITING = "waiting"
    MONEY = "money"
    RUDENESS = "rudeness"
    ESCALATION_REQUEST = "escalation_request"
    CHURN_THREAT = "churn_threat"
    LEGAL_THREAT = "legal_threat"
    PROFANITY = "profanity"
    GRATITUDE = "gratitude"
    OPERATOR_APOLOGISED = "operator_apologised"
    OPERATOR_OFFERED_BONUS = "operator_offered_bonus"
    OPERATOR_TRANSFERRED = "operator_transferred"


OPERATOR_CATEGORIES = tuple(c for c in Category if c.value.startswith("operator_"))
CUSTOMER_CATEGORIES = tuple(c for c in Category if c not in OPERATOR_CATEGORIES)
COMPLAINT_CATEGORIES = tuple(c for c in CUSTOMER_CATEGORIES if c is not Category.GRATITUDE)


class Action(StrEnum):
    """What an alert suggests the operator do."""

    APOLOGY = "apology"
    BONUS = "bonus"
    SUPERVISOR = "supervisor"
    THANK = "thank"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


class AckOutcome(StrEnum):
    """How an alert was answered: by the operator's click or heard in their speech."""

    APOLOGISED = "apologised"
    OFFERED_BONUS = "offered_bonus"
    CALLED_SUPERVISOR = "called_supervisor"
    DISMISSED = "dismissed"


# The operator's deed heard in speech -> the action it carries out -> the ack outcome.
ADDRESSES = {
    Category.OPERATOR_APOLOGISED: Action.APOLOGY,
    Category.OPERATOR_OFFERED_BONUS: Action.BONUS,
    Category.OPERATOR_TRANSFERRED: Action.SUPERVISOR,
}
OUTCOME_OF_ACTION = {
    Action.APOLOGY: AckOutcome.APOLOGISED,
    Action.BONUS: AckOutcome.OFFERED_BONUS,
    Action.SUPERVISOR: AckOutcome.CALLED_SUPERVISOR,
}


class AckSource(StrEnum):
    CONSOLE = "console"  # the operator clicked the alert card
    SPEECH = "speech"  # the operator was heard doing it


class CallStatus(StrEnum):
    LIVE = "live"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


ENDED_STATUSES = tuple(s for s in CallStatus if s is not CallStatus.LIVE)


class Protocol(StrEnum):
    """How a call's audio reached the service."""

    NATIVE = "native"
    TWILIO = "twilio"
    AUDIOHOOK = "audiohook"
    AUDIO_FORK = "audio_fork"
    ASTERISK_WS = "asterisk_ws"  # Asterisk chan_websocket (WebSocket channel driver)
    AUDIOSOCKET = "audiosocket"  # Asterisk AudioSocket (raw TCP)
    REPLAY = "replay"
    TEXT = "text"  # typed messages (chat, messenger, e-mail) through /v1/contacts


class ContactChannel(StrEnum):
    """How the customer reached the contact centre: a phone call, or in writing."""

    PHONE = "phone"
    CHAT = "chat"
    MESSENGER = "messenger"
    EMAIL = "email"


TEXT_CHANNELS = (ContactChannel.CHAT, ContactChannel.MESSENGER, ContactChannel.EMAIL)


class ContactOutcome(StrEnum):
    """Where an earlier contact left the customer's complaints (see `domain.customers`)."""

    RESOLVED = "resolved"  # every complaint was answered or the customer thanked after it
    UNRESOLVED = "unresolved"  # a complaint was left open
    NO_COMPLAINT = "no_complaint"


class Level(IntEnum):
    """A call's escalation level, in order."""

    CALM = 0
    TENSE = 1
    ESCALATED = 2
    CRITICAL = 3

    @property
    def label(self) -> LevelName:
        return LevelName(self.name.lower())


LevelName = StrEnum("LevelName", {level.name: level.name.lower() for level in Level})
"""The levels by name, as feeds and the policy file write them."""
