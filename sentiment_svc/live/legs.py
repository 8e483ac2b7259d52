"""Two connections, one call: the legs of an Asterisk call joined into one stereo call.

Asterisk streams each direction of a call on its own connection (chan_websocket or
AudioSocket, mono). An adapter marks such a connection's `CallStart` with the speaker it
carries (``leg``) and both speakers in ``tracks``; the first leg of a call id opens the
call through the service, the second joins it, and the call is closed when its last open
leg ends. Each leg's audio is that speaker's track (as Twilio's two tracks are), laid on the
call's one `Timeline`: a leg that joins later starts at the call time it joined at, so the
speakers stay aligned. The call's status is the worst of its legs' (failed, then
interrupted, then completed). A leg of a call id that already has that speaker, or whose
rate differs from the first leg's, is refused; so is a leg that comes after the call ended
(its id is stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentiment_svc.domain.messages import AlertMessage
from sentiment_svc.domain.vocabulary import CallStatus, Channel, Protocol
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.timeline import Timeline
from sentiment_svc.protocols.base import CallStart, ErrorCode, ProtocolError

if TYPE_CHECKING:
    from sentiment_svc.live.service import Service

STATUS_RANK = {CallStatus.COMPLETED: 0, CallStatus.INTERRUPTED: 1, CallStatus.FAILED: 2}


@dataclass(frozen=True)
class Leg:
    """One joined connection: the shared call and timeline, and where its audio starts."""

    call: LiveCall
    timeline: Timeline
    speaker: Channel
    offset_s: float  # the call time at which this leg's audio second 0 was heard


@dataclass
class _SharedCall:
    start: CallStart
    opening: asyncio.Future[LiveCall]
    began: float  # monotonic time the first leg arrived: call time 0
    timeline: Timeline
    speakers: set[Channel] = field(default_factory=set)
    open_legs: int = 0
    status: CallStatus = CallStatus.COMPLETED


class CallLegs:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._calls: dict[str, _SharedCall] = {}
        self._closing: set[asyncio.Future[None]] = set()  # abandoned calls being closed

    async def join(self, start: CallStart, protocol: Protocol,
                   send_alert: Callable[[AlertMessage], None] | None, owner: object,
                   now: float) -> Leg:
        """This connection's leg of `start.call_id`'s call, opening the call if it is the
        first; raises `ProtocolError` for a leg that cannot join, and whatever the
        service's `open_call` raises."""
        assert start.leg is not None
        shared = self._calls.get(start.call_id)
        if shared is None:
            opening = asyncio.ensure_future(
                self.service.open_call(start, protocol, send_alert, owner))
            shared = _SharedCall(start, opening, now, Timeline(start))
            self._calls[start.call_id] = shared
        else:
            self._check_joins(shared, start)
        shared.speakers.add(start.leg)
        shared.open_legs += 1
        try:
            call = await asyncio.shield(shared.opening)
        except BaseException:
            if self._left(shared, start.leg) and not shared.opening.done():
                # Cancelled while the service opens the call: close it once it is open.
                shared.opening.add_done_callback(self._close_abandoned)
            raise
        return Leg(call, shared.timeline, start.leg, max(0.0, now - shared.began))

    async def leave(self, leg: Leg, status: CallStatus) -> None:
        """The leg's connection ended with `status`; the last one closes the call."""
        shared = self._calls.get(leg.call.info.call_id)
        if shared is None:
            return
        if STATUS_RANK[status] > STATUS_RANK[shared.status]:
            shared.status = status
        if self._left(shared, leg.speaker):
            await self.service.close_call(leg.call, shared.status)

    def _close_abandoned(self, opening: asyncio.Future[LiveCall]) -> None:
        if not opening.cancelled() and opening.exception() is None:
            task = asyncio.ensure_future(
                self.service.close_call(opening.result(), CallStatus.INTERRUPTED))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _left(self, shared: _SharedCall, speaker: Channel) -> bool:
        """Count a leg out; True when it was the call's last (the call is forgotten)."""
        shared.speakers.discard(speaker)
        shared.open_legs -= 1
        if shared.open_legs > 0:
            return False
        self._calls.pop(shared.start.call_id, None)
        return True

    @staticmethod
    def _check_joins(shared: _SharedCall, start: CallStart) -> None:
        assert start.leg is not None
        if start.leg in shared.speakers:
            raise ProtocolError(ErrorCode.DUPLICATE_START, f"call {start.call_id} already has "
                                f"a {start.leg} leg")
        if start.sample_rate != shared.start.sample_rate:
            raise ProtocolError(ErrorCode.UNSUPPORTED_SAMPLE_RATE, f"the {start.leg} leg is at "
                                f"{start.sample_rate} Hz, the call's first leg at "
                                f"{shared.start.sample_rate} Hz")
