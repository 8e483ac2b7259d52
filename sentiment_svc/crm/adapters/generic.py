"""The generic target: the event's JSON as it was stored, POSTed to the target's URL in one
request, signed (`crm.signing`); any 2xx answer is success."""

from __future__ import annotations

from collections.abc import Mapping

from sentiment_svc.crm.adapters.base import JSON_TYPE, ONLY_STEP, Adapter, Request
from sentiment_svc.domain.webhooks import AnyWebhookEvent


class GenericAdapter(Adapter):
    kind = "generic"

    def next_request(self, event: AnyWebhookEvent, payload: str, refs: Mapping[str, str],
                     done: frozenset[str]) -> Request | None:
        if ONLY_STEP in done:
            return None
        return Request(ONLY_STEP, "POST", self.url, payload.encode("utf-8"),
                       {"Content-Type": JSON_TYPE})
