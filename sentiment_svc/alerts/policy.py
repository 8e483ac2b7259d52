"""The escalation policy: editable YAML, validated into typed settings at start-up."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sentiment_svc.domain.vocabulary import (
    ADDRESSES,
    CUSTOMER_CATEGORIES,
    OPERATOR_CATEGORIES,
    SEVERITY_RANK,
    Action,
    Category,
    Level,
    LevelName,
    SentimentLabel,
    Severity,
)

DEFAULT_POLICY = Path(__file__).with_name("data") / "policy.yaml"
# The vocabulary the policy file is written in (re-exported for the analysis modules).
__all__ = [
    "ADDRESSES", "CATEGORIES", "CUSTOMER_CATEGORIES", "OPERATOR_CATEGORIES", "SEVERITY_RANK",
    "Level", "Policy", "PolicyError", "Rule",
]
CATEGORIES = tuple(Category)


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
    levels: dict[LevelName, Band]

    @model_validator(mode="after")
    def _all_levels(self) -> Escalation:
        missing = {level.label for level in Level if level is not Level.CALM} - set(self.levels)
        if missing:
            raise ValueError(f"levels lacks {sorted(missing)}")
        return self

    def band(self, level: Level) -> Band:
        return self.levels[level.label]


class Condition(_Strict):
    categories_any: tuple[Category, ...] = ()
    categories_all: tuple[Category, ...] = ()
    category_repeated: tuple[Category, ...] = ()
    complaint: bool | None = None  # the customer complains (or not): `state.complains`
    upset: bool | None = None  # a complaint, or the utterance reads negative
    min_loudness_db: float | None = None  # this far over the caller's own baseline
    pleased_in_context: bool | None = None  # no unresolved complaint in the call so far
    level_reached: LevelName | None = None
    level_below: LevelName | None = None
    sentiment: SentimentLabel | None = None
    sentiment_not: SentimentLabel | None = None
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)


class Rule(_Strict):
    name: str
    when: Condition
    action: Action
    severity: Severity
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

