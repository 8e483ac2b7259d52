"""One small adapter per CRM kind behind `base.Adapter`; `for_target` picks it."""

from __future__ import annotations

from typing import Any

from sentiment_svc.crm.adapters.amocrm import AmoCrmAdapter
from sentiment_svc.crm.adapters.base import Adapter
from sentiment_svc.crm.adapters.bitrix24 import Bitrix24Adapter
from sentiment_svc.crm.adapters.generic import GenericAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    adapter.kind: adapter for adapter in (GenericAdapter, Bitrix24Adapter, AmoCrmAdapter)
}


def for_target(target: Any) -> Adapter:
    return ADAPTERS[target.kind](target)
