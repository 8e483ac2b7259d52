"""amoCRM: an ended contact as a call note on the customer's card, with the summary.

``POST https://<subdomain>.amocrm.ru/api/v4/{entity}/notes`` (entity: leads, contacts,
companies, customers), ``Authorization: Bearer <long-lived token>``, a JSON array of notes:
``[{"entity_id": <id>, "note_type": "call_in" | "call_out", "params": {"uniq": …,
"duration": <seconds>, "source": …, "link": …, "phone": …, "call_result": …,
"call_status": 4}}]``. ``uniq`` is the contact id (amoCRM refuses a second note with the
same ``uniq``, which makes a retried delivery harmless); ``call_status`` 4 is "the
conversation took place"; ``call_result`` carries the summary and the alerts' outcomes;
``link`` is the configured ``call_url`` with ``{contact_id}`` filled in (empty without);
``phone`` the caller's masked number where one came (the number itself is never kept).
The note goes on the entity whose id is the contact's customer id: the telephony side
passes amoCRM's id as ``customer_id``. A contact without a numeric customer id has no card
to go on: its note is skipped, with a log line. A chat, messenger or e-mail contact gets a
``common`` note (``params.text``: the summary) instead of a call note. Success is a 2xx answer.

Sources: https://www.amocrm.ru/developers/content/crm_platform/events-and-notes (adding
notes, note types ``call_in``/``call_out`` and their params),
https://amocrm.ru/developers/content/crm_platform/calls-api (the meaning of uniq, duration,
source, link, phone, call_result and the call_status codes), and Kommo's (amoCRM's
international edition) reference https://developers.kommo.com/reference/add-notes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sentiment_svc.crm.adapters import texts
from sentiment_svc.crm.adapters.base import JSON_TYPE, Adapter, Request, json_body
from sentiment_svc.domain.vocabulary import ContactChannel
from sentiment_svc.domain.webhooks import AnyWebhookEvent, ContactEndedEvent

log = logging.getLogger(__name__)

STEP = "note"
COMMON_NOTE = "common"  # a text note: what a written contact gets instead of a call note
CALL_STATUS_TALKED = 4  # "разговор состоялся"
MAX_RESULT_CHARS = 1000


class AmoCrmAdapter(Adapter):
    kind = "amocrm"

    def next_request(self, event: AnyWebhookEvent, payload: str, refs: Mapping[str, str],
                     done: frozenset[str]) -> Request | None:
        if STEP in done or not isinstance(event, ContactEndedEvent):
            return None
        customer = event.customer_id or ""
        if not customer.isdigit():
            log.warning("amoCRM target %s: contact %s has no numeric customer id (an amoCRM"
                        " %s id); its call note is skipped", self.target.name,
                        event.contact_id, self.target.entity)
            return None
        target = self.target
        written = event.channel is not ContactChannel.PHONE
        note = (self._text_note if written else self._call_note)(event, customer)
        return Request(
            STEP, "POST", f"{self.url.rstrip('/')}/api/v4/{target.entity}/notes",
            json_body([note]),
            {"Content-Type": JSON_TYPE,
             "Authorization": f"Bearer {target.token.get_secret_value()}"},
        )

    def _call_note(self, event: ContactEndedEvent, customer: str) -> dict:
        target = self.target
        return {
            "entity_id": int(customer),
            "note_type": target.note_type,
            "params": {
                "uniq": event.contact_id,
                "duration": round(event.duration),
                "source": target.source,
                "link": (target.call_url or "").replace("{contact_id}", event.contact_id),
                "phone": event.customer_label or "",  # the masked number, if one came
                "call_result": texts.summary_text(event)[:MAX_RESULT_CHARS],
                "call_status": CALL_STATUS_TALKED,
            },
        }

    @staticmethod
    def _text_note(event: ContactEndedEvent, customer: str) -> dict:
        """A chat, messenger or e-mail contact: a plain ("common") note with the summary."""
        return {"entity_id": int(customer), "note_type": COMMON_NOTE,
                "params": {"text": texts.summary_text(event)[:MAX_RESULT_CHARS]}}

    def secrets(self) -> tuple[str, ...]:
        return (self.target.token.get_secret_value(),)
