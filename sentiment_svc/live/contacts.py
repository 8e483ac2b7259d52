"""Text contacts: chat, messenger and e-mail messages through the same call pipeline.

A text contact is a call of another channel: `Service.open_call` with `Protocol.TEXT` and a
`ContactChannel`, stored in the same `calls` rows (so search, export, erasure, retention,
the replay list and the customer's history cover every channel), published on the same
feeds. Each message enters the call where a recognised utterance does (`LiveCall.write`),
so it gets the same masking, text analysis, escalation state and policy; there is no
audio, so no VAD, no recognition and no raised voice. A contact ends when its chat socket
closes, when it is ended through the API, or after `contact_idle_timeout_s` without a
message; an ended contact takes no more messages (the next one is a new contact).

`TextContacts.post` checks everything before anything changes: a refused message
(`ContactRefused`, with an HTTP status) leaves the contact and the store as they were.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from enum import IntEnum

from sentiment_svc.analysis.email_text import strip_email
from sentiment_svc.domain.messages import CallSummary, Message
from sentiment_svc.domain.vocabulary import (
    CALL_LANGUAGES,
    CallStatus,
    Channel,
    ContactChannel,
    Language,
    Protocol,
)
from sentiment_svc.frames import SAMPLE_RATE
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.service import CallRejected, Service, ServiceBusy
from sentiment_svc.protocols.base import CallStart

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 4000  # of a message as analysed (an e-mail after stripping)
CLOCK_SKEW_S = 300.0  # a message may say it was sent this far in the future
_UKRAINIAN_LETTERS = re.compile(r"[іїєґ]", re.IGNORECASE)


class Refusal(IntEnum):
    """Why a message is refused, as the HTTP status the web layer answers with."""

    CONFLICT = 409  # the contact is a call, has ended, or is another customer's/channel's
    UNPROCESSABLE = 422  # nothing to analyse, too long, sent in the future
    BUSY = 503  # the service cannot take contacts now


class ContactRefused(Exception):
    def __init__(self, status: Refusal, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ContactMessage:
    """One message of a text contact, as the web edge validated it."""

    contact_id: str
    customer_id: str
    operator_id: str
    channel: ContactChannel
    sender: Channel
    text: str
    sent_at: float | None = None  # UTC epoch seconds; None: now
    language: Language = Language.AUTO


@dataclass
class _Open:
    call: LiveCall
    channel: ContactChannel
    customer_id: str  # as stored (a phone number keyed)
    last_t: float = 0.0
    idle: asyncio.TimerHandle | None = None


def guess_language(text: str) -> str:
    """ru or uk for typed text (no recogniser to say): Ukrainian letters mean uk."""
    return Language.UK.value if _UKRAINIAN_LETTERS.search(text) else Language.RU.value


def analysed_text(message: ContactMessage) -> str:
    """What the analysis reads: an e-mail without its quotes and signature; refused when
    nothing is left or it is too long."""
    text = strip_email(message.text) if message.channel is ContactChannel.EMAIL else message.text
    text = text.strip()
    if not text:
        what = "after the quoted mail and signature" if message.channel is ContactChannel.EMAIL \
            else "in the message"
        raise ContactRefused(Refusal.UNPROCESSABLE, f"no text to analyse {what}")
    if len(text) > MAX_TEXT_CHARS:
        raise ContactRefused(Refusal.UNPROCESSABLE,
                             f"the text has {len(text)} characters; at most {MAX_TEXT_CHARS}")
    return text


class TextContacts:
    """The live text contacts of one service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._open: dict[str, _Open] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._expiring: set[asyncio.Task[None]] = set()

    def is_open(self, contact_id: str) -> bool:
        return contact_id in self._open

    async def post(self, message: ContactMessage, owner: object = None) -> list[Message]:
        """Analyse one message (opening its contact if new); returns what it published:
        the utterance, then any alert or acknowledgement it caused."""
        text = analysed_text(message)
        now = time.time()
        sent_at = now if message.sent_at is None else message.sent_at
        if sent_at > now + CLOCK_SKEW_S:
            raise ContactRefused(Refusal.UNPROCESSABLE, "sent_at is in the future")
        lock = self._locks.setdefault(message.contact_id, asyncio.Lock())
        try:
            async with lock:
                contact = self._open.get(message.contact_id)
                if contact is None:
                    contact = await self._start(message, sent_at, owner)
                else:
                    self._check_same(contact, message)
                t = max(contact.last_t, sent_at - contact.call.info.started_at)
                contact.last_t = t
                lang = str(message.language) if message.language in CALL_LANGUAGES \
                    else guess_language(text)
                published = await contact.call.write(message.sender, t, text, lang)
                self._rearm(message.contact_id, contact)
        finally:  # a refused first message leaves no lock behind
            if message.contact_id not in self._open and not lock.locked():
                self._locks.pop(message.contact_id, None)
        return published

    async def end(self, contact_id: str, status: CallStatus = CallStatus.COMPLETED
                  ) -> CallSummary | None:
        """End a live text contact; None if it is not one (unknown or already ended)."""
        lock = self._locks.setdefault(contact_id, asyncio.Lock())
        async with lock:
            contact = self._open.pop(contact_id, None)
            self._locks.pop(contact_id, None)
            if contact is None:
                return None
            if contact.idle is not None:
                contact.idle.cancel()
            summary = contact.call.pipeline.summary(contact.call.received_s)
            await self.service.close_call(contact.call, status)
            return summary

    async def close_all(self) -> None:
        for contact_id in list(self._open):
            await self.end(contact_id, CallStatus.INTERRUPTED)

    async def _start(self, message: ContactMessage, sent_at: float, owner: object) -> _Open:
        service = self.service
        if message.contact_id in service.calls:
            raise ContactRefused(Refusal.CONFLICT,
                                 f"{message.contact_id!r} is a live call, not a text contact")
        if await service.db(service.store.get_call, message.contact_id) is not None:
            raise ContactRefused(
                Refusal.CONFLICT,
                f"contact {message.contact_id!r} has ended; send further messages as a new "
                "contact",
            )
        start = CallStart(
            call_id=message.contact_id, operator_id=message.operator_id,
            customer_id=message.customer_id, language=message.language,
            sample_rate=SAMPLE_RATE, encoding="pcm16", channels=2,
            channel_map={0: Channel.CUSTOMER, 1: Channel.OPERATOR},
        )
        try:
            call = await service.open_call(start, Protocol.TEXT, owner=owner,
                                           contact_channel=message.channel, started_at=sent_at)
        except ServiceBusy as error:
            raise ContactRefused(Refusal.BUSY, str(error)) from None
        except CallRejected as error:
            raise ContactRefused(Refusal.CONFLICT, str(error)) from None
        contact = _Open(call, message.channel, call.info.customer_id or "")
        self._open[message.contact_id] = contact
        return contact

    def _check_same(self, contact: _Open, message: ContactMessage) -> None:
        if message.channel is not contact.channel:
            raise ContactRefused(
                Refusal.CONFLICT,
                f"contact {message.contact_id!r} is a {contact.channel}, not a {message.channel}",
            )
        if self.service.customer_ids.key(message.customer_id).id != contact.customer_id:
            raise ContactRefused(Refusal.CONFLICT,
                                 f"contact {message.contact_id!r} is another customer's")

    def _rearm(self, contact_id: str, contact: _Open) -> None:
        if contact.idle is not None:
            contact.idle.cancel()
        contact.idle = asyncio.get_running_loop().call_later(
            self.service.settings.contact_idle_timeout_s, self._expire, contact_id
        )

    def _expire(self, contact_id: str) -> None:
        log.info("text contact %s ended: no message for a while", contact_id)
        task = asyncio.create_task(self.end(contact_id))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)
