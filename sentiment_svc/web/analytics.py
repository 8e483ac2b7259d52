"""The CX REST API (``/v1``): a contact's CX measures, the QA analytics report over a window
of days, and each of the report's tables as CSV.

Access: a contact's measures like the contact itself (`web.rest`: an operator reads only its
own); the report and its CSV need the qa or supervisor role. The report is computed from the
store on the store's thread (`cx.source`) and shaped by `cx.analytics`; the CSV writes the
same rows with the same numbers (UTF-8 with a byte-order mark, formula-like cells guarded,
empty for null). Window: ``since`` (inclusive) and ``until`` (exclusive), ISO-8601 (a date
is its UTC midnight) or epoch seconds; by default the last seven UTC days, today included.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel

from sentiment_svc.cx.analytics import ROW_MODELS, AnalyticsReport, AnalyticsTable, report
from sentiment_svc.cx.followthrough import AlertFollowThrough
from sentiment_svc.cx.measures import ContactCx
from sentiment_svc.cx.source import BATCH, TooManyContacts, finished_ids, measure, measure_ids
from sentiment_svc.web.auth import Principal, Role, require_roles
from sentiment_svc.web.export import spreadsheet_cell
from sentiment_svc.web.rest import (
    _AUTH_ERRORS,
    _NOT_FOUND,
    Reader,
    _db,
    _parse_time,
    _readable_call,
)
from sentiment_svc.web.rest_models import ErrorOut

DEFAULT_DAYS = 7
MAX_WINDOW_DAYS = 92
DAY_S = 86_400.0
EARLIEST, LATEST = 0.0, datetime(9999, 12, 31, tzinfo=UTC).timestamp()

Analyst = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.QA))]

router = APIRouter(prefix="/v1", tags=["cx"], responses=_AUTH_ERRORS)

_BAD_WINDOW = {422: {"model": ErrorOut, "description": "A bad or too wide window"}}


class ContactCxOut(BaseModel):
    measures: ContactCx
    alerts: list[AlertFollowThrough]


@router.get(
    "/calls/{call_id}/cx", response_model=ContactCxOut, responses=_NOT_FOUND,
    summary="A contact's predicted CSAT, effort and NPS risk with their reasons",
)
async def contact_cx(request: Request, principal: Reader, call_id: str) -> ContactCxOut:
    call = await _readable_call(request, principal, call_id)
    store = request.app.state.store
    facts = await _db(request)(measure, store, call)
    return ContactCxOut(measures=facts.cx, alerts=list(facts.alerts))


def _window(since: str | None, until: str | None) -> tuple[float, float]:
    end = _parse_time(until, "until")
    if end is None:
        today = datetime.fromtimestamp(time.time(), UTC).date()
        end = datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() + DAY_S
    start = _parse_time(since, "since")
    if start is None:
        start = end - DEFAULT_DAYS * DAY_S
    if not (EARLIEST <= start <= LATEST and EARLIEST <= end <= LATEST):  # NaN fails too
        raise HTTPException(422, "since and until must lie between 1970 and 9999")
    if not start < end:
        raise HTTPException(422, "since must be before until")
    if end - start > MAX_WINDOW_DAYS * DAY_S:
        raise HTTPException(422, f"the window may span at most {MAX_WINDOW_DAYS} days")
    return start, end


async def _report(request: Request, since: str | None, until: str | None,
                  operator_id: str | None) -> AnalyticsReport:
    start, end = _window(since, until)
    hop, store = _db(request), request.app.state.store
    try:
        ids = await hop(finished_ids, store, start, end, operator_id)
    except TooManyContacts as exc:
        raise HTTPException(422, str(exc)) from None
    contacts = []
    for first in range(0, len(ids), BATCH):  # live calls' writes go between the batches
        contacts += await hop(measure_ids, store, ids[first:first + BATCH])
    return report(contacts, start, end, operator_id)


Since = Annotated[str | None, Query(description="from (inclusive): ISO-8601 or epoch seconds")]
Until = Annotated[str | None, Query(description="to (exclusive): ISO-8601 or epoch seconds")]
Operator = Annotated[str | None, Query(max_length=200, description="one operator's contacts")]


@router.get(
    "/analytics", response_model=AnalyticsReport, responses=_BAD_WINDOW,
    summary="QA analytics: CX per day, complaints, prompt follow-through and outcomes",
)
async def analytics(request: Request, principal: Analyst, since: Since = None,
                    until: Until = None, operator_id: Operator = None) -> AnalyticsReport:
    return await _report(request, since, until, operator_id)


@router.get(
    "/analytics/{table}.csv", response_class=Response, responses={
        **_BAD_WINDOW,
        200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "one table of the report, one row per row"},
    },
    summary="One table of the QA analytics report as CSV",
)
async def analytics_csv(request: Request, principal: Analyst, table: AnalyticsTable,
                        since: Since = None, until: Until = None,
                        operator_id: Operator = None) -> Response:
    answer = await _report(request, since, until, operator_id)
    days = answer.days
    name = f"{table}-{days[0]}-{days[-1]}.csv"
    return Response(
        table_csv(answer, table), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def table_csv(answer: AnalyticsReport, table: AnalyticsTable) -> str:
    rows: list[BaseModel] = getattr(answer, table.value)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    columns = list(ROW_MODELS[table].model_fields)
    writer.writerow(columns)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow(spreadsheet_cell("" if values[c] is None else values[c]) for c in columns)
    return out.getvalue()
