"""Bitrix24: the contact as an external call in Bitrix24 telephony, with its transcript and a
timeline comment with the alerts, through an inbound REST webhook
(``https://<portal>/rest/<user>/<code>/<method>``, JSON bodies).

- Any event of a contact not yet registered: ``telephony.externalcall.register``
  (USER_ID, PHONE_NUMBER, TYPE 1/2, CALL_START_DATE ISO 8601, CRM_CREATE 0/1, SHOW 0); its
  ``result`` gives CALL_ID and the CRM object found (CRM_ENTITY_TYPE CONTACT | COMPANY |
  LEAD, CRM_ENTITY_ID), kept for the contact's later events.
- ``alert`` / ``alert_acknowledged``: ``crm.timeline.comment.add`` with
  ``fields`` {ENTITY_ID, ENTITY_TYPE (lead, contact, company: lower case), COMMENT}, on the
  object the call was registered to (none found: no comment).
- ``contact_ended``: ``telephony.externalcall.finish`` (CALL_ID, USER_ID, DURATION in whole
  seconds, STATUS_CODE "200"), the transcript with ``telephony.call.attachTranscription``
  (CALL_ID, MESSAGES [{SIDE "User" (the operator) | "Client", START_TIME, STOP_TIME in whole
  seconds from the call start, STOP_TIME at least 1, MESSAGE}]; the method takes the
  CALL_ID that register gave), and a timeline comment with the summary and every alert with
  its outcome.

The caller's number never reaches the service (152-FZ: it is kept as a keyed hash), so
PHONE_NUMBER carries the masked number or the customer id, and CRM_CREATE defaults to 0.
A Bitrix24 answer with ``error`` is a failure, retried like an HTTP error.

Sources: https://training.bitrix24.com/rest_help/scope_telephony/telephony/telephony_externalcall_register.php,
https://dev.1c-bitrix.ru/rest_help/scope_telephony/telephony/telephony_externalcall_finish.php,
https://apidocs.bitrix24.com/api-reference/telephony/telephony-call-attach-transcription.html
(the documented name of the transcription method is ``telephony.call.attachTranscription``),
https://dev.1c-bitrix.ru/rest_help/crm/timeline/comment/crm_timeline_comment_add.php
(``fields`` in lower case since crm 23.100.0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sentiment_svc.crm.adapters import texts
from sentiment_svc.crm.adapters.base import JSON_TYPE, Adapter, DeliveryError, Request, json_body
from sentiment_svc.domain.vocabulary import Channel, ContactChannel
from sentiment_svc.domain.webhooks import (
    AlertAcknowledgedEvent,
    AlertEvent,
    AnyWebhookEvent,
    ContactEndedEvent,
)

REGISTER = "telephony.externalcall.register"
FINISH = "telephony.externalcall.finish"
TRANSCRIPTION = "telephony.call.attachTranscription"
COMMENT = "crm.timeline.comment.add"
STATUS_SUCCESS = "200"  # the call took place (Bitrix24's table of call codes)
SIDES = {Channel.OPERATOR: "User", Channel.CUSTOMER: "Client"}


class Bitrix24Adapter(Adapter):
    kind = "bitrix24"

    def next_request(self, event: AnyWebhookEvent, payload: str, refs: Mapping[str, str],
                     done: frozenset[str]) -> Request | None:
        if event.channel is not ContactChannel.PHONE:
            return None  # Bitrix24's telephony API registers calls; a chat is not one
        if "call_id" not in refs:
            return self._post("register", REGISTER, self._register(event))
        call_id = refs["call_id"]
        if isinstance(event, ContactEndedEvent):
            steps: list[tuple[str, str, dict[str, Any] | None]] = [
                ("finish", FINISH, {"CALL_ID": call_id, "USER_ID": self._user(event),
                                    "DURATION": round(event.duration),
                                    "STATUS_CODE": STATUS_SUCCESS}),
                ("transcript", TRANSCRIPTION, _transcription(call_id, event)),
                ("comment", COMMENT, _comment(refs, texts.summary_text(event))),
            ]
        elif isinstance(event, AlertEvent):
            steps = [("comment", COMMENT, _comment(refs, texts.alert_text(event)))]
        elif isinstance(event, AlertAcknowledgedEvent):
            steps = [("comment", COMMENT,
                      _comment(refs, texts.ack_text(event.action, event.outcome)))]
        else:
            steps = []
        for step, method, body in steps:
            if step not in done and body is not None:
                return self._post(step, method, body)
        return None

    def learn(self, request: Request, status: int, body: bytes) -> dict[str, str]:
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError(f"HTTP {status}, not a JSON object")
        if "error" in answer or not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}, Bitrix24 error {str(answer.get('error'))[:80]}")
        if request.step != "register":
            return {}
        result = answer.get("result")
        if not isinstance(result, dict) or not result.get("CALL_ID"):
            raise DeliveryError("Bitrix24 registered no CALL_ID")
        refs = {"call_id": str(result["CALL_ID"])}
        if result.get("CRM_ENTITY_TYPE") and result.get("CRM_ENTITY_ID"):
            refs["entity_type"] = str(result["CRM_ENTITY_TYPE"]).lower()
            refs["entity_id"] = str(result["CRM_ENTITY_ID"])
        return refs

    def _post(self, step: str, method: str, body: dict[str, Any]) -> Request:
        return Request(step, "POST", f"{self.url.rstrip('/')}/{method}", json_body(body),
                       {"Content-Type": JSON_TYPE})

    def _user(self, event: AnyWebhookEvent) -> int:
        return self.target.users.get(event.operator_id, self.target.default_user_id)

    def _register(self, event: AnyWebhookEvent) -> dict[str, Any]:
        return {
            "USER_ID": self._user(event),
            "PHONE_NUMBER": event.customer_label or event.customer_id or "",
            "TYPE": self.target.call_type,
            "CALL_START_DATE": datetime.fromtimestamp(event.started_at, UTC).isoformat(
                timespec="seconds"),
            "CRM_CREATE": int(self.target.crm_create),
            "SHOW": 0,
        }


def _transcription(call_id: str, event: ContactEndedEvent) -> dict[str, Any] | None:
    messages = [
        {"SIDE": SIDES[line.channel], "START_TIME": int(line.start),
         "STOP_TIME": max(1, math.ceil(line.end)), "MESSAGE": line.text}
        for line in event.transcript if line.text.strip()
    ]
    return {"CALL_ID": call_id, "MESSAGES": messages} if messages else None


def _comment(refs: Mapping[str, str], text: str) -> dict[str, Any] | None:
    if "entity_id" not in refs:
        return None  # the number matched nothing in the CRM: nowhere to comment
    return {"fields": {"ENTITY_ID": int(refs["entity_id"]),
                       "ENTITY_TYPE": refs["entity_type"], "COMMENT": text}}
