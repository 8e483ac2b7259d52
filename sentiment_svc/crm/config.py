"""The CRM webhook targets: the ``webhooks:`` list of the service's ``--config`` YAML.

::

    webhooks:
      - name: crm-main                      # generic: the signed JSON events (crm.signing)
        kind: generic
        url: https://crm.example.com/hooks/sentiment
        secret: "at-least-16-characters-long"
        events: [contact_started, alert, alert_acknowledged, contact_ended]   # default: all
      - name: b24
        kind: bitrix24                      # crm.adapters.bitrix24
        url: https://example.bitrix24.ru/rest/1/xxxxxxxxxxxx/   # the inbound webhook
        users: {op-1: 5, op-2: 7}           # operator id -> Bitrix24 USER_ID
        default_user_id: 1
      - name: amo
        kind: amocrm                        # crm.adapters.amocrm
        url: https://example.amocrm.ru
        token: "<long-lived access token>"
        entity: contacts                    # the customer id is this entity's id

A bad entry stops the service at start with a message naming the entry and field, never
the value (URLs with a Bitrix24 webhook code and tokens are secrets). Retry timing comes
from the settings (``SENTIMENT_WEBHOOK_*``, `sentiment_svc.config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sentiment_svc.domain.webhooks import WebhookEventType
from sentiment_svc.web.auth import MIN_TOKEN_LENGTH, validation_problems

KEY = "webhooks"
ALL_EVENTS = tuple(WebhookEventType)


class WebhookConfigError(ValueError):
    """The ``webhooks:`` configuration is invalid; the message names the entry and field."""


class TargetKind(StrEnum):
    GENERIC = "generic"
    BITRIX24 = "bitrix24"
    AMOCRM = "amocrm"


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: SecretStr  # a Bitrix24 webhook URL holds its code: never printed
    events: tuple[WebhookEventType, ...] = ALL_EVENTS
    secret: SecretStr | None = None  # signs every request (crm.signing) when given

    @pydantic.field_validator("url")
    @classmethod
    def _http_url(cls, url: SecretStr) -> SecretStr:
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @pydantic.field_validator("secret")
    @classmethod
    def _long_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"a secret needs at least {MIN_TOKEN_LENGTH} characters")
        return secret

    @pydantic.model_validator(mode="after")
    def _events(self) -> _Target:
        if not self.events:
            raise ValueError("'events' is empty: list at least one")
        return self


class GenericTarget(_Target):
    kind: Literal[TargetKind.GENERIC]
    secret: SecretStr  # type: ignore[assignment]  # required: receivers verify it


class Bitrix24Target(_Target):
    kind: Literal[TargetKind.BITRIX24]
    events: tuple[WebhookEventType, ...] = (
        WebhookEventType.CONTACT_STARTED, WebhookEventType.CONTACT_ENDED,
    )
    users: dict[str, int] = {}  # operator id -> USER_ID
    default_user_id: int  # the USER_ID of operators not in `users`
    crm_create: bool = False  # let Bitrix24 create a lead for an unknown number
    call_type: Literal[1, 2] = 2  # 1 outbound, 2 inbound (the method's TYPE)


class AmoCrmTarget(_Target):
    kind: Literal[TargetKind.AMOCRM]
    events: tuple[WebhookEventType, ...] = (WebhookEventType.CONTACT_ENDED,)
    token: SecretStr
    entity: Literal["leads", "contacts", "companies", "customers"] = "contacts"
    note_type: Literal["call_in", "call_out"] = "call_in"
    source: str = Field(default="sentiment-svc", min_length=1)
    # link to the call, e.g. "https://svc.example.com/qa?call={contact_id}"
    call_url: str | None = None

    @pydantic.model_validator(mode="after")
    def _ended_only(self) -> AmoCrmTarget:
        if set(self.events) != {WebhookEventType.CONTACT_ENDED}:
            raise ValueError("an amoCRM target takes 'contact_ended' only (a call note)")
        return self


WebhookTarget = Annotated[GenericTarget | Bitrix24Target | AmoCrmTarget,
                          Field(discriminator="kind")]


class WebhooksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[WebhookTarget, ...] = ()

    def subscriptions(self) -> dict[str, tuple[WebhookEventType, ...]]:
        """Target name -> its events: what the store writes outbox rows for."""
        return {target.name: target.events for target in self.targets}

    @classmethod
    def from_entries(cls, entries: Any, source: str) -> WebhooksConfig:
        if entries is None:
            return cls()
        if not isinstance(entries, list):
            raise WebhookConfigError(f"{source}: '{KEY}' must be a list of targets")
        targets = []
        for index, raw in enumerate(entries):
            where = f"{source}: {KEY}[{index}]"
            if not isinstance(raw, Mapping):
                raise WebhookConfigError(f"{where}: must be a mapping")
            if raw.get("kind") not in tuple(TargetKind):
                raise WebhookConfigError(
                    f"{where}: kind: must be one of {', '.join(TargetKind)}")
            try:
                target = pydantic.TypeAdapter(WebhookTarget).validate_python(raw)
            except pydantic.ValidationError as exc:
                raise WebhookConfigError(f"{where}: {_problems(exc)}") from None
            if any(other.name == target.name for other in targets):
                raise WebhookConfigError(f"{where}: the name {target.name!r} is used twice")
            targets.append(target)
        return cls(targets=tuple(targets))

    @classmethod
    def load(cls, config_file: Path | None) -> WebhooksConfig:
        """From the ``webhooks:`` key of the config file; none configured without one."""
        if config_file is None:
            return cls()
        try:
            data = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise WebhookConfigError(f"{config_file}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise WebhookConfigError(f"{config_file}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            return cls()
        return cls.from_entries(data.get(KEY), str(config_file))


def _problems(error: pydantic.ValidationError) -> str:
    # the union's member name (e.g. "bitrix24") leads each location: drop it
    problems = validation_problems(error)
    for kind in TargetKind:
        problems = problems.replace(f"{kind.value}.", "").replace(f"{kind.value}: ", "")
    return problems
