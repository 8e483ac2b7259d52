"""The escalation policy: editable YAML, validated into typed settings at start-up."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CUSTOMER_CATEGORIES = (
    "not_helped",
    "repeat_contact",
    "waiting",
    "money",
    "rudeness",
    "escalation_request",
    "churn_threat",
    "legal_threat",
    "profanity",
    "gratitude",
)
# What the operator did, heard on the operator channel; each answers one suggested action.
OPERATOR_CATEGORIES = ("operator_apologised", "operator_offered_bonus", "operator_transferred")
ADDRESSES = {
    "operator_apologised": "apology",
    "operator_offered_bonus": "bonus",
    "operator_transferred": "supervisor",
}
CATEGORIES = CUSTOMER_CATEGORIES + OPERATOR_CATEGORIES
DEFAULT_POLICY = Path(__file__).with_name("data") / "policy.yaml"

Category = Literal[
    "not_helped",
    "repeat_contact",
    "waiting",
    "money",
    "rudeness",
    "escalation_request",
    "churn_threat",
    "legal_threat",
    "profanity",
    "gratitude",
    "operator_apologised",
    "operator_offered_bonus",
    "operator_transferred",
]


class Level(IntEnum):
    CALM = 0
    TENSE = 1
    ESCALATED = 2
    CRITICAL = 3


class PolicyError(ValueError):
    """The policy file is invalid; the message names the file and the place."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    enter: float
    leave: float

    @model_validator(mode="after")
    def _leave_below_enter(self) -> Band:
        if self.leave > self.enter:
            raise ValueError("leave must not be above enter")
        return self


class Escalation(_Strict):
    decay: float = Field(ge=0.0, le=1.0)
    negative_weight: float = Field(ge=0.0)
    negative_floor: float = Field(ge=0.0, lt=1.0)
    repeat_multiplier: float = Field(ge=1.0)
    raised_voice_weight: float = Field(ge=0.0)
    category_weights: dict[Category, float]
    levels: dict[Literal["tense", "escalated", "critical"], Band]

    @model_validator(mode="after")
    def _all_levels(self) -> Escalation:
        missing = {"tense", "escalated", "critical"} - set(self.levels)
        if missing:
            raise ValueError(f"levels lacks {sorted(missing)}")
        return self

    def band(self, level: Level) -> Band:
        return self.levels[level.name.lower()]  # type: ignore[index]


class Condition(_Strict):
    categories_any: tuple[Category, ...] = ()
    category_repeated: tuple[Category, ...] = ()
    level_reached: Literal["tense", "escalated", "critical"] | None = None
    level_below: Literal["tense", "escalated", "critical"] | None = None
    sentiment: Literal["neg", "neu", "pos"] | None = None
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)


class Rule(_Strict):
    name: str
    when: Condition
    action: Literal["apology", "bonus", "supervisor", "thank"]
    severity: Literal["info", "warning", "critical"]
    reason: str


class Policy(_Strict):
    escalation: Escalation
    cooldown_s: float = Field(ge=0.0)
    rules: tuple[Rule, ...]

    @classmethod
    def load(cls, path: Path = DEFAULT_POLICY) -> Policy:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise PolicyError(f"{path}: cannot read: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise PolicyError(f"{path}: not valid YAML: {error}") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            first = error.errors()[0]
            place = ".".join(str(part) for part in first["loc"])
            raise PolicyError(f"{path}: {place}: {first['msg']}") from None


SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
