"""The REST API over stored calls: list, read, recording, export, erasure (``/v1``).

Access: supervisor and qa read everything; an operator reads only its own calls (another
operator's call answers 404, exactly like a missing one, so call ids do not leak); ingest
reads nothing (403); deleting needs supervisor or qa. The app provides the call store
(`storage.base.CallRepository`: SQLite or PostgreSQL) as ``app.state.store`` (reached
through its `StoreHop`, ``app.state.db``, never on the event loop) and the `TokenRegistry`
as ``app.state.tokens``. Times in answers are UTC epoch seconds
(wall clock) or seconds from the call start (in-call); ``since``/``until`` also take
ISO-8601 (a time without a zone is UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from sentiment_svc.domain.records import CallDetail
from sentiment_svc.domain.vocabulary import CallStatus
from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.errors import CallLiveError
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.web.auth import Principal, Role, require_roles
from sentiment_svc.web.export import call_to_csv
from sentiment_svc.web.rest_models import CallPage, ErasureOut, ErrorOut

MAX_PAGE = 200
MAX_OFFSET = 10**9  # SQLite takes 64-bit integers; no listing is this deep

Reader = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.QA, Role.OPERATOR))]
Eraser = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.QA))]

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown bearer token"},
    403: {"model": ErrorOut, "description": "The token's role may not do this"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such call (or not one of the operator's)"},
}

router = APIRouter(prefix="/v1", tags=["calls"], responses=_AUTH_ERRORS)


def _store(request: Request) -> CallRepository:
    return request.app.state.store


def _db(request: Request) -> StoreHop:
    return request.app.state.db


def _parse_time(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            422, f"{name}: expected ISO-8601 (2025-03-01T09:30:00Z) or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _file_stem(call_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", call_id)[:100] or "call"


async def _readable_call(request: Request, principal: Principal, call_id: str) -> CallDetail:
    call = await _db(request)(_store(request).get_call, call_id)
    if call is None or (
        principal.role is Role.OPERATOR and call.operator_id != principal.operator_id
    ):
        raise HTTPException(404, f"no call {call_id!r}")
    return call


@router.get("/calls", response_model=CallPage, summary="List calls, newest first")
async def list_calls(
    request: Request,
    principal: Reader,
    since: Annotated[
        str | None, Query(description="started at or after: ISO-8601 or epoch seconds")
    ] = None,
    until: Annotated[
        str | None, Query(description="started before: ISO-8601 or epoch seconds")
    ] = None,
    operator_id: Annotated[str | None, Query(max_length=200)] = None,
    has_alert: Annotated[bool | None, Query(description="only calls with/without alerts")] = None,
    category: Annotated[
        str | None, Query(max_length=100, description="an utterance or alert carried it")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="words one utterance contains (word starts, any "
                                          "case): 'керівника', 'скарг'"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CallPage:
    window = (_parse_time(since, "since"), _parse_time(until, "until"))
    if principal.role is Role.OPERATOR:
        if operator_id is not None and operator_id != principal.operator_id:
            return CallPage(calls=[], limit=limit, offset=offset, next_offset=None)
        operator_id = principal.operator_id
    calls = await _db(request)(
        _store(request).list_calls,
        since=window[0], until=window[1], operator_id=operator_id, has_alert=has_alert,
        category=category, text=q, limit=limit + 1, offset=offset,
    )
    more = len(calls) > limit
    return CallPage(
        calls=calls[:limit], limit=limit, offset=offset,
        next_offset=offset + limit if more else None,
    )


@router.get(
    "/calls/{call_id}", response_model=CallDetail, responses=_NOT_FOUND,
    summary="A call with its utterances, alerts, acks and summary",
)
async def get_call(request: Request, principal: Reader, call_id: str) -> CallDetail:
    return await _readable_call(request, principal, call_id)


@router.get(
    "/calls/{call_id}/recording",
    response_class=Response,
    responses={
        **_NOT_FOUND,
        200: {"content": {"audio/wav": {}}, "description": "16-bit PCM WAV"},
        206: {"content": {"audio/wav": {}}, "description": "The byte range asked for"},
        409: {"model": ErrorOut, "description": "The call is still live"},
        416: {"model": ErrorOut, "description": "The range is outside the recording"},
    },
    summary="The call's recording (WAV)",
)
async def get_recording(request: Request, principal: Reader, call_id: str) -> Response:
    call = await _readable_call(request, principal, call_id)
    if call.status is CallStatus.LIVE:
        raise HTTPException(409, f"call {call_id!r} is still live")
    wav = await _db(request)(_store(request).recordings.read, call_id) if call.recording else None
    if wav is None:
        raise HTTPException(404, f"call {call_id!r} has no recording")
    headers = {
        "Content-Disposition": f'attachment; filename="{_file_stem(call_id)}.wav"',
        "Accept-Ranges": "bytes",
    }
    span = _byte_range(request.headers.get("range"), len(wav))
    if span is None:
        return Response(wav, media_type="audio/wav", headers=headers)
    first, last = span
    headers["Content-Range"] = f"bytes {first}-{last}/{len(wav)}"
    return Response(wav[first : last + 1], status_code=206, media_type="audio/wav",
                    headers=headers)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``Range: bytes=a-b`` (RFC 9110 14.1.2) as (first, last), None for the whole body
    (no header, or several ranges: answered whole, which the RFC allows); 416 if outside."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or not (match[1] or match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # the last N bytes
        first, last = max(0, size - int(match[2])), size - 1
    if first >= size or first > last:
        raise HTTPException(416, f"range outside the recording's {size} bytes")
    return first, last


@router.get(
    "/calls/{call_id}/export",
    response_model=None,
    responses={
        **_NOT_FOUND,
        200: {
            "description": "JSON (the call detail) or CSV (one row per utterance)",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CallDetail"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
    summary="Download a call as JSON or CSV",
)
async def export_call(
    request: Request,
    principal: Reader,
    call_id: str,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    call = await _readable_call(request, principal, call_id)
    stem = _file_stem(call_id)
    if format == "csv":
        body, media_type = call_to_csv(call), "text/csv; charset=utf-8"
    else:
        body, media_type = call.model_dump_json(), "application/json"
    disposition = f'attachment; filename="{stem}.{format}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


_LIVE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The call (or one of the customer's) is live"},
}


@router.delete(
    "/calls/{call_id}", status_code=204, response_class=Response,
    responses={**_NOT_FOUND, **_LIVE},
    summary="Erase a call: its rows, search index entries and recording",
)
async def delete_call(request: Request, principal: Eraser, call_id: str) -> Response:
    try:
        deleted = await _db(request)(_store(request).delete_call, call_id)
    except CallLiveError as exc:
        raise HTTPException(409, str(exc)) from None
    if not deleted:
        raise HTTPException(404, f"no call {call_id!r}")
    return Response(status_code=204)


@router.delete(
    "/customers/{customer_id}", response_model=ErasureOut, responses=_LIVE,
    summary="Erase every call of a customer (right to erasure)",
)
async def delete_customer(request: Request, principal: Eraser, customer_id: str) -> ErasureOut:
    try:
        customer_ids = getattr(request.app.state, "customer_ids", None)
        if customer_ids is not None:  # erasure by the caller's number finds its hash
            customer_id = customer_ids.key(customer_id).id
        count = await _db(request)(_store(request).delete_customer, customer_id)
    except CallLiveError as exc:
        raise HTTPException(409, str(exc)) from None
    return ErasureOut(customer_id=customer_id, deleted_calls=count)
