"""Response models of the REST API (`sentiment_svc.web.rest`) beyond the store's records
(`sentiment_svc.domain.records`), which the API returns as they are."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sentiment_svc.domain.records import CallDetail, StoredCall

__all__ = ["CallDetail", "CallPage", "ErasureOut", "ErrorOut"]


class ErrorOut(BaseModel):
    detail: str


class CallPage(BaseModel):
    calls: list[StoredCall]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class ErasureOut(BaseModel):
    customer_id: str
    deleted_calls: int
