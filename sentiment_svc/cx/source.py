"""Reading the finished contacts of a window from the store and measuring each one.

Synchronous, through the store's interface (`storage.base.CallRepository`) only: async
code runs `load_contacts` on the store's thread (``await hop(load_contacts, store, ...)``).
A contact's earlier contacts are the customer's finished ones in the `rules.HISTORY_DAYS`
before it started.
"""

from __future__ import annotations

from sentiment_svc.cx.analytics import ContactFacts
from sentiment_svc.cx.followthrough import follow_through
from sentiment_svc.cx.rules import HISTORY_DAYS, measure_contact
from sentiment_svc.domain.records import CallDetail, CustomerPast
from sentiment_svc.domain.vocabulary import CallStatus
from sentiment_svc.storage.base import CallRepository

MAX_CONTACTS = 5000  # one report; a wider window must be narrowed (or split by operator)
PAGE = 500
DAY_S = 86_400.0


class TooManyContacts(ValueError):
    def __init__(self) -> None:
        super().__init__(
            f"more than {MAX_CONTACTS} contacts in the window: narrow it or pick an operator"
        )


def prior_contacts(store: CallRepository, call: CallDetail) -> CustomerPast | None:
    if call.customer_id is None:
        return None
    return store.customer_history(
        call.customer_id, since=call.started_at - HISTORY_DAYS * DAY_S, until=call.started_at
    )


def measure(store: CallRepository, call: CallDetail) -> ContactFacts:
    return ContactFacts(
        call=call, cx=measure_contact(call, prior_contacts(store, call)),
        alerts=follow_through(call),
    )


def load_contacts(store: CallRepository, since: float, until: float,
                  operator_id: str | None = None) -> list[ContactFacts]:
    """Every finished contact started in [since, until), measured. `TooManyContacts` past
    `MAX_CONTACTS`."""
    calls = []
    offset = 0
    while True:
        page = store.list_calls(since=since, until=until, operator_id=operator_id,
                                limit=PAGE, offset=offset)
        calls.extend(c for c in page if c.status is not CallStatus.LIVE)
        if len(calls) > MAX_CONTACTS:
            raise TooManyContacts()
        if len(page) < PAGE:
            break
        offset += PAGE
    facts = []
    for stored in calls:
        detail = store.get_call(stored.call_id)
        if detail is not None:  # erased meanwhile
            facts.append(measure(store, detail))
    return facts
