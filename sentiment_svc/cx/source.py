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
BATCH = 50  # contacts measured per turn on the store's thread
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


def finished_ids(store: CallRepository, since: float, until: float,
                 operator_id: str | None = None) -> list[str]:
    """The ids of the finished contacts started in [since, until); `TooManyContacts` past
    `MAX_CONTACTS`."""
    ids: list[str] = []
    offset = 0
    while True:
        page = store.list_calls(since=since, until=until, operator_id=operator_id,
                                limit=PAGE, offset=offset)
        ids.extend(c.call_id for c in page if c.status is not CallStatus.LIVE)
        if len(ids) > MAX_CONTACTS:
            raise TooManyContacts()
        if len(page) < PAGE:
            return ids
        offset += PAGE


def measure_ids(store: CallRepository, call_ids: list[str]) -> list[ContactFacts]:
    """These contacts, measured (one erased meanwhile is left out)."""
    details = (store.get_call(call_id) for call_id in call_ids)
    return [measure(store, detail) for detail in details if detail is not None]


def load_contacts(store: CallRepository, since: float, until: float,
                  operator_id: str | None = None) -> list[ContactFacts]:
    """Every finished contact started in [since, until), measured, in one go (the REST API
    measures them `BATCH` at a time, so live calls' writes go between the batches)."""
    return measure_ids(store, finished_ids(store, since, until, operator_id))
