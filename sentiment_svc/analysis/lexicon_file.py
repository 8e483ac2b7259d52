"""The lexicon file's format: its YAML schema (pydantic), validated with errors that name the
file, the category and the pattern. `lexicon.py` compiles what this reads."""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sentiment_svc.alerts.policy import CATEGORIES, Category

Negatable = bool | Literal["statements"]  # "statements": "не хамите!" (a command) still counts
_ALTERNATIVE_RE = re.compile(r"=?[\w'’ʼ-]+")


class LexiconError(ValueError):
    """The lexicon file is invalid; the message names the file, category and pattern."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatternSpec(_Strict):
    pattern: str
    ordered: bool = False
    window: int | None = Field(default=None, ge=1, le=30)
    gap: int = Field(default=3, ge=0, le=10)
    negatable: Negatable | None = None  # None: the category's setting
    prefix: bool = False
    unless: tuple[str, ...] = ()

    @field_validator("pattern")
    @classmethod
    def _syntax(cls, value: str) -> str:
        pieces = value.split()
        if not pieces or "..." in (pieces[0], pieces[-1]):
            raise ValueError("a pattern must start and end with a word")
        for piece in pieces:
            if piece != "..." and not all(map(_ALTERNATIVE_RE.fullmatch, piece.split("|"))):
                raise ValueError(f"{piece!r}: only words, digits, '|', '=' and '...' are allowed")
        return " ".join(pieces)


class CategorySpec(_Strict):
    negatable: Negatable = True
    # false: only words heard right match; anchored: a slip may stand for one pattern word
    # when another word of the match was heard right (a single misheard word never matches)
    slips: bool | Literal["anchored"] = True
    unless: tuple[str, ...] = ()
    ru: tuple[PatternSpec, ...] = ()
    uk: tuple[PatternSpec, ...] = ()

    @field_validator("ru", "uk", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"pattern": item} if isinstance(item, str) else item for item in value]
        return () if value is None else value


class LexiconSpec(_Strict):
    extends: Literal["builtin"] | None = None  # user files: add to the bundled lexicon
    categories: dict[Category, CategorySpec]


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """A validation error's place, with the pattern text: "category 'money', ru, pattern '...'"."""
    if len(loc) < 3 or loc[0] != "categories":
        return ".".join(map(str, loc)) or "top level"
    if loc[2] == "[key]":
        return f"unknown category {loc[1]!r} (known: {', '.join(CATEGORIES)})"
    where = f"category {loc[1]!r}, {loc[2]}"
    if len(loc) > 3 and isinstance(loc[3], int):  # the raw item exists: pydantic read it
        item = raw["categories"][loc[1]][loc[2]][loc[3]]
        text = item.get("pattern") if isinstance(item, dict) else item
        where += f", pattern #{loc[3] + 1} {text!r}" + "".join(f", {part}" for part in loc[4:])
    return where


def read_spec(source: str, text: str) -> LexiconSpec:
    """The file's text validated; LexiconError (one line, with the places) if it is not."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise LexiconError(f"{source}: not valid YAML: {error}") from None
    try:
        return LexiconSpec.model_validate(raw)
    except ValidationError as error:
        problems = [f"{_where(raw, item['loc'])}: {item['msg']}" for item in error.errors()]
        raise LexiconError(f"{source}: " + "; ".join(problems)) from None
