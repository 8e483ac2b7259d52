"""``/v1/schemas``: the JSON Schemas of what the feeds send and what the consoles send, so a
console or an integration can check the messages it gets (the codec makes them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from sentiment_svc.domain.codec import schemas

router = APIRouter(prefix="/v1/schemas", tags=["schemas"])


@router.get("", summary="The published message schemas, by name")
async def schema_index(request: Request) -> dict[str, str]:
    return {name: str(request.url_for("message_schema", name=name)) for name in schemas()}


@router.get("/{name}", name="message_schema", summary="One message schema (JSON Schema)")
async def message_schema(name: str) -> dict[str, Any]:
    found = schemas().get(name)
    if found is None:
        raise HTTPException(404, f"no schema {name!r}; there are {sorted(schemas())}")
    return found
