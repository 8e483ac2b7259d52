"""Live feeds for the consoles: one operator's calls, and the supervisor's wall of all calls.

Each feed is a bus subscription with its own bounded queue (see `live.bus`): a console that
stops reading loses its oldest events, and nobody else notices.

Operator feed: that operator's call_started / utterance / alert / call_state / call_ended
events. The console acknowledges an alert with
`{"type": "ack", "call_id": ..., "alert_id": ..., "outcome": "apologised"}`.
Supervisor feed: every call's call_started / alert / call_ended, and a `call_state` for each
live call every second; `{"type": "watch", "call_id": ...}` adds that call's transcript.
In a cluster (``SENTIMENT_REDIS_URL``) both show the calls of every instance, and an ack
goes to the instance running the call (`Service.acknowledge`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.domain.codec import BadRequest, parse_console_request, to_json
from sentiment_svc.domain.messages import (
    AckRequest,
    AlertAcked,
    AlertDelivered,
    AlertMessage,
    CallEnded,
    CallStarted,
    FeedError,
    Message,
    WatchRequest,
)
from sentiment_svc.live.bus import Subscription
from sentiment_svc.live.service import CallRejected, Service, ServiceBusy
from sentiment_svc.web.auth import Role, websocket_principal

router = APIRouter()
STATE_INTERVAL_S = 1.0
SUPERVISOR_EVENTS = (CallStarted, CallEnded, AlertMessage, AlertAcked, AlertDelivered)
ConsoleHandler = Callable[[Message], Awaitable[Message | None]]


async def _pump(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        message = await subscription.get()
        await websocket.send_text(to_json(message))


async def _state_ticker(websocket: WebSocket, service: Service, operator_id: str | None) -> None:
    while True:
        for view in service.live_views():
            if operator_id is None or view.operator_id == operator_id:
                await websocket.send_text(to_json(view))
        await asyncio.sleep(STATE_INTERVAL_S)


async def _serve(
    websocket: WebSocket,
    subscription: Subscription,
    on_message: ConsoleHandler,
    operator_id: str | None,
) -> None:
    service: Service = websocket.app.state.service
    tasks = [
        asyncio.create_task(_pump(websocket, subscription)),
        asyncio.create_task(_state_ticker(websocket, service, operator_id)),
    ]
    try:
        while True:
            text = await websocket.receive_text()
            try:
                reply = await on_message(parse_console_request(text))
            except BadRequest as error:
                reply = FeedError(code="bad_request", message=str(error))
            if reply is not None:
                await websocket.send_text(to_json(reply))
    except WebSocketDisconnect:
        pass
    finally:
        service.bus.unsubscribe(subscription)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


@router.websocket("/v1/operators/{operator_id}/feed")
async def operator_feed(websocket: WebSocket, operator_id: str) -> None:
    principal = await websocket_principal(
        websocket, websocket.app.state.tokens, {Role.OPERATOR, Role.SUPERVISOR}
    )
    await websocket.accept()
    if principal.role is Role.OPERATOR and principal.operator_id != operator_id:
        await websocket.close(CloseCode.FORBIDDEN, "an operator may only follow their own calls")
        return
    service: Service = websocket.app.state.service
    subscription = service.bus.subscribe(
        lambda m: getattr(m, "operator_id", None) == operator_id
    )

    # An ack is stored as the operator's: a supervisor following the feed may not give one
    # (with no tokens configured everybody is everybody, and may).
    supervising = principal.role is Role.SUPERVISOR and not websocket.app.state.tokens.is_open

    async def on_message(message: Message) -> Message | None:
        if not isinstance(message, AckRequest):
            raise BadRequest(f"an operator's feed takes acks, not {message.type!r}")
        if supervising:
            raise BadRequest("only the operator acknowledges their alerts")
        call_id, alert_id = message.call_id, message.alert_id
        detail = await service.db(service.store.get_call, call_id)
        if detail is None or detail.operator_id != operator_id:
            raise BadRequest(f"unknown call {call_id}")
        if not any(a.alert_id == alert_id for a in detail.alerts):
            raise BadRequest(f"unknown alert {alert_id}")
        # Stored and shown by the instance running the call (`Service.acknowledge`).
        await service.acknowledge(call_id, alert_id, operator_id, message.outcome)
        return None

    await _serve(websocket, subscription, on_message, operator_id)


@router.websocket("/v1/supervisor/feed")
async def supervisor_feed(websocket: WebSocket) -> None:
    await websocket_principal(websocket, websocket.app.state.tokens, {Role.SUPERVISOR})
    await websocket.accept()
    service: Service = websocket.app.state.service
    watched: set[str] = set()
    subscription = service.bus.subscribe(
        lambda m: isinstance(m, SUPERVISOR_EVENTS) or getattr(m, "call_id", None) in watched
    )

    async def on_message(message: Message) -> Message | None:
        if not isinstance(message, WatchRequest):
            raise BadRequest(f"the supervisor's feed takes watch and unwatch, not {message.type!r}")
        call_id = message.call_id
        if message.type == "unwatch":
            watched.discard(call_id)
            return None
        watched.add(call_id)
        view = next((v for v in service.live_views() if v.call_id == call_id), None)
        if view is None:
            return FeedError(code="not_live", message=f"call {call_id} is not live")
        return view

    await _serve(websocket, subscription, on_message, None)


@router.websocket("/v1/calls/{call_id}/replay")
async def replay(websocket: WebSocket, call_id: str) -> None:
    """QA replay: a stored call through the live pipeline again, at 1-8x real time."""
    principal = await websocket_principal(
        websocket, websocket.app.state.tokens, {Role.QA, Role.SUPERVISOR, Role.OPERATOR}
    )
    await websocket.accept()
    service: Service = websocket.app.state.service
    try:
        speed = float(websocket.query_params.get("speed", "1"))
    except ValueError:
        speed = 0.0
    if not 1.0 <= speed <= 8.0:
        await websocket.close(CloseCode.BAD_REQUEST, "speed must be between 1 and 8")
        return
    detail = await service.db(service.store.get_call, call_id)
    if detail is None or (
        principal.role is Role.OPERATOR and detail.operator_id != principal.operator_id
    ):
        await websocket.close(CloseCode.NOT_FOUND, f"no call {call_id}")
        return
    outgoing: asyncio.Queue[Message | None] = asyncio.Queue()

    async def send() -> None:
        while (message := await outgoing.get()) is not None:
            await websocket.send_text(to_json(message))

    async def until_the_viewer_leaves() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # nothing is expected; a close ends it

    sender = asyncio.create_task(send())
    playing = asyncio.create_task(
        service.replay(call_id, speed, outgoing.put_nowait, owner=principal)
    )
    watching = asyncio.create_task(until_the_viewer_leaves())
    try:
        await asyncio.wait({playing, watching}, return_when=asyncio.FIRST_COMPLETED)
        if not playing.done():  # the viewer left: the replay is no load for anyone
            playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await playing
            return
        playing.result()
        outgoing.put_nowait(None)
        await sender
        await websocket.close(CloseCode.NORMAL, "replay finished")
    except ServiceBusy as error:
        await websocket.close(CloseCode.TRY_AGAIN_LATER, str(error)[:120])
    except CallRejected as error:
        await websocket.close(CloseCode.NOT_FOUND, str(error)[:120])
    except WebSocketDisconnect:
        pass
    finally:
        for task in (sender, playing, watching):
            task.cancel()
