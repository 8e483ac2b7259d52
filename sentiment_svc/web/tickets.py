"""Short-lived, single-use websocket tickets: a long-lived token traded for a URL-safe secret.

Browsers cannot set headers on a websocket, so a console would have to put its token in the
URL (``?token=``), where proxies, browser history and access logs keep it. Instead the page
sends its token once, in a header, to ``POST /v1/ws-ticket`` and opens the socket with
``?ticket=…``: the ticket names the same principal, works once, and expires after
`TICKET_TTL_S`. A leaked URL is worth nothing a few seconds later.

Tickets live in this process's memory: behind a balancer, the socket must reach the
instance that issued the ticket within its lifetime (or the page retries with a new one, as
the consoles do on every reconnect).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from sentiment_svc.web.auth import Principal, Role, require_roles

TICKET_TTL_S = 30.0
TICKET_BYTES = 32
# Outstanding tickets kept at most (the oldest are dropped first): bounds the memory a
# client that asks for tickets and never uses them can take.
MAX_OUTSTANDING = 10_000
# Tickets one principal may hold unused at once; a page needs one per socket it opens.
MAX_PER_PRINCIPAL = 20


class TicketBook:
    """Issued, unused tickets, kept as SHA-256 digests with their principal and expiry."""

    def __init__(self, ttl_s: float = TICKET_TTL_S, clock: Callable[[], float] = time.monotonic,
                 max_outstanding: int = MAX_OUTSTANDING,
                 max_per_principal: int = MAX_PER_PRINCIPAL) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_outstanding
        self._max_per_principal = max_per_principal
        self._tickets: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tickets)

    def issue(self, principal: Principal) -> str:
        """A new ticket for `principal`. Its oldest unused ticket goes beyond the per-
        principal limit, the oldest of all beyond the total limit."""
        self._drop_expired()
        held = [key for key, (owner, _) in self._tickets.items() if owner == principal]
        for key in held[: max(0, len(held) - self._max_per_principal + 1)]:
            del self._tickets[key]
        while len(self._tickets) >= self._max:
            self._tickets.popitem(last=False)
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        self._tickets[_digest(ticket)] = (principal, self._clock() + self.ttl_s)
        return ticket

    def redeem(self, ticket: str | None) -> Principal | None:
        """The ticket's principal, once: a used, unknown or expired ticket gives None."""
        if not ticket:
            return None
        found = self._tickets.pop(_digest(ticket), None)
        if found is None:
            return None
        principal, expires = found
        return principal if self._clock() < expires else None

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [key for key, (_, expires) in self._tickets.items() if expires <= now]:
            del self._tickets[key]


def _digest(ticket: str) -> bytes:
    # The digest of 32 random bytes is as unguessable as the ticket; looking it up in a dict
    # leaks no timing about which ticket is close to a valid one.
    return hashlib.sha256(ticket.encode("utf-8")).digest()


class TicketOut(BaseModel):
    ticket: str
    expires_in_s: float


router = APIRouter(prefix="/v1", tags=["auth"])
AnyRole = Annotated[
    Principal, Depends(require_roles(Role.SUPERVISOR, Role.QA, Role.OPERATOR, Role.INGEST))
]


@router.post(
    "/ws-ticket",
    response_model=TicketOut,
    summary="Trade the bearer token for a single-use websocket ticket",
    description=f"Open the websocket with `?ticket=` within {TICKET_TTL_S:g} s; it works once "
    "and stands for the same role (and operator) as the token.",
)
async def issue_ticket(request: Request, principal: AnyRole) -> TicketOut:
    book: TicketBook = request.app.state.tickets
    return TicketOut(ticket=book.issue(principal), expires_in_s=book.ttl_s)
