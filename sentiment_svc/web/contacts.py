"""Text contacts over HTTP and a websocket, and a customer's timeline (``/v1``).

- ``POST /v1/contacts/{contact_id}/messages``: one chat, messenger or e-mail message
  (`MessageIn`); answers its analysis and the alerts it caused. ``POST …/end`` ends it.
- ``ws /v1/contacts/{contact_id}/chat``: a live chat: `ChatMessageIn` frames, each answered
  with `MessageOut` (or ``{"type": "error"}``, and the socket stays open); ``{"type":
  "end"}`` or closing the socket ends the contact.
- ``GET /v1/customers/{customer_id}/timeline``: calls and text contacts, newest first.

Sending needs an ingest token (as the telephony endpoints do); the timeline supervisor or
qa. A refused message changes nothing: 400 malformed JSON, 413 a body over the limit, 422
a message that does not validate or leaves nothing to analyse, 409 a contact that is a
call, has ended, or belongs to another customer or channel.
"""

from __future__ import annotations

import contextlib
import re
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
)
from pydantic import Field, TypeAdapter, ValidationError

from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.domain.codec import to_json
from sentiment_svc.domain.customers import CustomerTimeline
from sentiment_svc.domain.messages import AlertAcked, AlertMessage, FeedError, UtteranceMessage
from sentiment_svc.live.contacts import ContactRefused, TextContacts
from sentiment_svc.web.auth import Principal, Role, require_roles, websocket_principal
from sentiment_svc.web.contact_models import (
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    ChatEndIn,
    ChatMessageIn,
    ContactEndOut,
    MessageIn,
    MessageOut,
)
from sentiment_svc.web.rest_models import ErrorOut

MAX_BODY_BYTES = 4 * MAX_BODY_CHARS + 4096  # the longest text in UTF-8, and the fields
TIMELINE_LIMIT = 200
CONTACT_ID = re.compile(r"[^/\x00-\x1f\x7f]{1,200}")

Sender = Annotated[Principal, Depends(require_roles(Role.INGEST))]
Reader = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.QA))]
_CHAT_IN: TypeAdapter[ChatMessageIn | ChatEndIn] = TypeAdapter(
    Annotated[ChatMessageIn | ChatEndIn, Field(discriminator="type")]
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": what} for code, what in (
        (400, "Malformed JSON"), (401, "Missing or unknown bearer token"),
        (403, "The token's role may not do this"), (409, "A call, an ended contact, or "
                                                          "another customer's or channel's"),
        (413, "The body is over the limit"), (422, "Invalid, or nothing left to analyse"),
        (503, "The service cannot take contacts now"),
    )
}
router = APIRouter(prefix="/v1", tags=["contacts"], responses=_ERRORS)


def _contacts(app: Any) -> TextContacts:
    return app.state.contacts


def _check_id(contact_id: str) -> None:
    if not CONTACT_ID.fullmatch(contact_id):
        raise HTTPException(422, f"contact_id: 1-{MAX_ID_CHARS} characters, no control ones")


def problems(error: ValidationError) -> str:
    """A validation error in one line, by field, without echoing the input."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    )


def is_malformed(error: ValidationError) -> bool:
    return any(e["type"] == "json_invalid" for e in error.errors())


def answer(contact_id: str, published: list[Any]) -> MessageOut:
    utterance = next(m for m in published if isinstance(m, UtteranceMessage))
    return MessageOut(
        contact_id=contact_id, utterance=utterance,
        alerts=[m for m in published if isinstance(m, AlertMessage)],
        acked=[m for m in published if isinstance(m, AlertAcked)],
    )


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes")
    return bytes(body)


@router.post(
    "/contacts/{contact_id}/messages", response_model=MessageOut,
    summary="A chat, messenger or e-mail message: analysed like a call's utterance",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": MessageIn.model_json_schema(ref_template="#/components/schemas/{model}")
    }}}},
)
async def post_message(request: Request, principal: Sender, contact_id: str) -> MessageOut:
    _check_id(contact_id)
    body = await _body(request)
    try:
        message = MessageIn.model_validate_json(body)
    except ValidationError as error:
        if is_malformed(error):
            raise HTTPException(400, "the body is not valid JSON") from None
        raise HTTPException(422, problems(error)) from None
    try:
        published = await _contacts(request.app).post(message.typed(contact_id), principal)
    except ContactRefused as refused:
        raise HTTPException(int(refused.status), str(refused)) from None
    return answer(contact_id, published)


@router.post(
    "/contacts/{contact_id}/end", response_model=ContactEndOut,
    responses={404: {"model": ErrorOut, "description": "No live text contact of this id"}},
    summary="End a text contact (it also ends after its idle timeout)",
)
async def end_contact(request: Request, principal: Sender, contact_id: str) -> ContactEndOut:
    summary = await _contacts(request.app).end(contact_id)
    if summary is None:
        raise HTTPException(404, f"no live text contact {contact_id!r}")
    return ContactEndOut(contact_id=contact_id, status="completed", summary=summary)


@router.get(
    "/customers/{customer_id}/timeline", response_model=CustomerTimeline,
    responses={404: {"model": ErrorOut, "description": "No contact of this customer"}},
    summary="A customer's calls and text contacts, newest first",
)
async def customer_timeline(
    request: Request, principal: Reader, customer_id: str,
    limit: Annotated[int, Query(ge=1, le=TIMELINE_LIMIT)] = 50,
) -> CustomerTimeline:
    service = request.app.state.service
    key = service.customer_ids.key(customer_id).id  # a phone number finds its hash
    timeline = await service.db(service.store.customer_timeline, key, limit=limit)
    if not timeline.contacts:
        raise HTTPException(404, f"no contacts of customer {customer_id!r}")
    return timeline


@router.websocket("/contacts/{contact_id}/chat")
async def live_chat(websocket: WebSocket, contact_id: str) -> None:
    principal = await websocket_principal(websocket, websocket.app.state.tokens, {Role.INGEST})
    await websocket.accept()
    if not CONTACT_ID.fullmatch(contact_id):
        await websocket.close(CloseCode.BAD_REQUEST, "contact_id has a control character")
        return
    contacts = _contacts(websocket.app)
    gone = False
    try:
        while True:
            reply = await _chat_reply(contacts, contact_id, principal,
                                      await websocket.receive_text())
            if reply is None:
                break
            await websocket.send_text(to_json(reply))
    except WebSocketDisconnect:
        gone = True
    finally:  # the chat is over when its socket is, however it went
        summary = await contacts.end(contact_id)
    if not gone:
        with contextlib.suppress(Exception):
            await websocket.send_text(to_json(ContactEndOut(
                contact_id=contact_id, status="completed", summary=summary)))
            await websocket.close(CloseCode.NORMAL, "contact ended")


async def _chat_reply(contacts: TextContacts, contact_id: str, principal: Principal,
                      text: str) -> MessageOut | FeedError | None:
    """The answer to one frame; None when it ends the contact."""
    if len(text) > MAX_BODY_BYTES:
        return FeedError(code="too_large", message=f"a message is at most {MAX_BODY_BYTES} bytes")
    try:
        frame = _CHAT_IN.validate_json(text)
    except ValidationError as error:
        code = "malformed" if is_malformed(error) else "invalid"
        return FeedError(code=code, message=problems(error)[:300])
    if isinstance(frame, ChatEndIn):
        return None
    try:
        published = await contacts.post(frame.typed(contact_id), principal)
    except ContactRefused as refused:
        return FeedError(code=refused.status.name.lower(), message=str(refused))
    return answer(contact_id, published)
