"""The typed values of the CX measures: the reasons' vocabulary (defined once), a reason
with its contribution, and a contact's predicted CSAT, customer effort and NPS risk band.

Each measure keeps the value it started from (``base``) and every reason that moved it,
so ``base + sum(contributions)``, clamped to the scale, is the value (`rules` computes
them; the README's "CX measures" section documents each rule).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class CxReason(StrEnum):
    """Why a measure moved; the same code may move several measures."""

    # CSAT
    SENTIMENT = "sentiment"  # the customer's mean tone over the contact
    ENDING_TONE = "ending_tone"  # the tone of the customer's last utterances
    COMPLAINTS = "complaints"  # distinct complaint categories raised
    GRATITUDE = "gratitude"  # the customer thanked
    ALERTS_ADDRESSED = "alerts_addressed"  # prompts the operator acted on
    ALERTS_UNADDRESSED = "alerts_unaddressed"  # prompts dismissed or left unanswered
    HIGH_EFFORT = "high_effort"  # the effort score was high
    CONTACT_DROPPED = "contact_dropped"  # interrupted or failed, not completed
    # effort (CES)
    PRIOR_CONTACTS = "prior_contacts"  # the customer's earlier contacts in the window
    REPEATED_COMPLAINT = "repeated_complaint"  # an earlier contact raised the same complaint
    REPEAT_STATED = "repeat_stated"  # the customer said they contact again (repeat_contact)
    WAITING_STATED = "waiting_stated"  # the customer complained of waiting
    TRANSFERS = "transfers"  # the operator transferred / called a supervisor
    HOLDS = "holds"  # long silences on both channels (a hold, a search)
    KEYPAD = "keypad"  # key presses (IVR menus, typed numbers)
    LONG_CONTACT = "long_contact"
    # NPS risk
    LOW_CSAT = "low_csat"
    CHURN_THREAT = "churn_threat"
    LEGAL_THREAT = "legal_threat"
    ESCALATION_REQUEST = "escalation_request"


class RiskBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class CxRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(CxRecord):
    code: CxReason
    contribution: float = Field(description="what it added to the measure (negative: took)")
    count: int | None = Field(
        default=None, description="how many times the signal was seen, where it counts"
    )


class Score(CxRecord):
    """A measure on a 1..5 scale: ``base`` moved by each reason, clamped, one decimal."""

    value: float = Field(ge=1.0, le=5.0)
    base: float
    reasons: tuple[Reason, ...]


class NpsRisk(CxRecord):
    """Risk points (never below 0) from the reasons, and the band they fall in."""

    band: RiskBand
    points: float = Field(ge=0.0)
    reasons: tuple[Reason, ...]


class ContactCx(CxRecord):
    """The CX measures of one contact."""

    call_id: str
    csat: Score = Field(description="predicted CSAT: 1 very dissatisfied .. 5 very satisfied")
    effort: Score = Field(description="customer effort (CES): 1 very low .. 5 very high")
    nps_risk: NpsRisk = Field(description="risk that the customer is a detractor")
