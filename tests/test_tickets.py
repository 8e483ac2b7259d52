"""Single-use websocket tickets: the book's rules on its own (the sockets are in
test_live_access, the consoles in test_pages)."""

from __future__ import annotations

from sentiment_svc.web.auth import Principal, Role
from sentiment_svc.web.tickets import TicketBook

OPERATOR = Principal(Role.OPERATOR, "op-1", "op-1 token")
SUPERVISOR = Principal(Role.SUPERVISOR, None, "night shift")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_ticket_names_its_principal_once() -> None:
    book = TicketBook()
    ticket = book.issue(OPERATOR)
    assert len(ticket) >= 40
    assert book.redeem(ticket) == OPERATOR
    assert book.redeem(ticket) is None
    assert book.redeem("") is None and book.redeem(None) is None


def test_tickets_expire() -> None:
    clock = Clock()
    book = TicketBook(ttl_s=30, clock=clock)
    early, late = book.issue(OPERATOR), book.issue(SUPERVISOR)
    clock.now += 29
    assert book.redeem(early) == OPERATOR
    clock.now += 2
    assert book.redeem(late) is None
    book.issue(OPERATOR)  # issuing sweeps what expired
    assert len(book) == 1


def test_unused_tickets_are_bounded_per_principal_and_in_all() -> None:
    book = TicketBook(max_outstanding=50, max_per_principal=3)
    first, *rest = [book.issue(OPERATOR) for _ in range(4)]
    assert book.redeem(first) is None  # the oldest made room
    assert all(book.redeem(ticket) == OPERATOR for ticket in rest)
    for index in range(60):
        book.issue(Principal(Role.SUPERVISOR, None, f"s{index}"))
    assert len(book) == 50


def test_tickets_are_distinct() -> None:
    book = TicketBook()
    assert len({book.issue(SUPERVISOR) for _ in range(200)}) == 200
