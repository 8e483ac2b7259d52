"""Tokens and roles on the live sockets, acknowledgements, and the supervisor wall."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys

import httpx
import pytest
import websockets

from sentiment_svc.client import stream_call
from tests.live_server import TOKENS, secured_registry, start_server
from tests.test_live import angry_call


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    registry = secured_registry()
    live = start_server(tmp_path_factory.mktemp("secured"), registry)
    yield live
    live.stop()


async def close_code(url: str, headers: dict | None = None) -> int | None:
    """The code the service closed the socket with, or None if it stayed open 5 s."""
    async with websockets.connect(url, additional_headers=headers or {}) as socket:
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            await asyncio.wait_for(socket.recv(), 5)
        return socket.close_code


@pytest.mark.parametrize(
    "path,token,expected",
    [
        ("/v1/ingest", None, 4401),
        ("/v1/ingest", "not-a-real-token-at-all", 4401),
        ("/v1/ingest", TOKENS["op1"], 4403),
        ("/v1/supervisor/feed", TOKENS["ingest"], 4403),
        ("/v1/supervisor/feed", TOKENS["op1"], 4403),
        ("/v1/operators/op-1/feed", TOKENS["ingest"], 4403),
        ("/v1/operators/op-1/feed", TOKENS["op2"], 4403),
        ("/v1/operators/op-1/feed", None, 4401),
        ("/v1/twilio", TOKENS["qa"], 4403),
        ("/v1/calls/x/replay", TOKENS["ingest"], 4403),
    ],
)
def test_websocket_roles(secured, path, token, expected):
    url = secured.ws + path + (f"?token={token}" if token else "")
    assert asyncio.run(close_code(url)) == expected


def test_bearer_header_works_on_websockets(secured):
    headers = {"Authorization": f"Bearer {TOKENS['op2']}"}
    url = secured.ws + "/v1/operators/op-1/feed"
    assert asyncio.run(close_code(url, headers)) == 4403


def test_operator_acknowledges_an_alert_and_the_supervisor_sees_it(secured):
    call = angry_call("ack-call", "op-1")

    async def scenario():
        supervisor = await websockets.connect(
            f"{secured.ws}/v1/supervisor/feed?token={TOKENS['supervisor']}"
        )
        result = await stream_call(call, secured.ws, "native", token=TOKENS["ingest"],
                                   follow_feed=False)
        operator = await websockets.connect(
            f"{secured.ws}/v1/operators/op-1/feed?token={TOKENS['op1']}"
        )
        wall: list[dict] = []
        alert = None
        while alert is None:
            message = json.loads(await asyncio.wait_for(supervisor.recv(), 30))
            wall.append(message)
            if message["type"] == "alert":
                alert = message
        await operator.send(json.dumps({"type": "ack", "call_id": "ack-call",
                                        "alert_id": alert["alert_id"], "outcome": "apologised"}))
        while True:
            message = json.loads(await asyncio.wait_for(supervisor.recv(), 30))
            wall.append(message)
            if message["type"] == "alert_acked":
                break
        for _ in range(3):  # a double click, a retrying console: stored once
            await operator.send(json.dumps({"type": "ack", "call_id": "ack-call",
                                            "alert_id": alert["alert_id"],
                                            "outcome": "apologised"}))
        await operator.send(json.dumps({"type": "ack", "call_id": "ack-call",
                                        "alert_id": "nope", "outcome": "apologised"}))
        error = {"type": None}
        while error["type"] != "error":  # the operator's feed also carries its own ack
            error = json.loads(await asyncio.wait_for(operator.recv(), 10))
        # A supervisor may follow the operator's feed, but not answer for the operator.
        async with websockets.connect(
            f"{secured.ws}/v1/operators/op-1/feed?token={TOKENS['supervisor']}"
        ) as over_the_shoulder:
            await over_the_shoulder.send(json.dumps({
                "type": "ack", "call_id": "ack-call", "alert_id": alert["alert_id"],
                "outcome": "dismissed"}))
            refused = {"type": None}
            while refused["type"] != "error":
                refused = json.loads(await asyncio.wait_for(over_the_shoulder.recv(), 10))
        await operator.close()
        await supervisor.close()
        return result, wall, error, refused

    result, wall, error, refused = asyncio.run(scenario())
    assert "only the operator" in refused["message"]
    assert result.close_code == 1000
    assert any(m["type"] == "call_started" and m["call_id"] == "ack-call" for m in wall)
    assert any(m["type"] == "call_state" and m["call_id"] == "ack-call" for m in wall)
    assert not any(m["type"] == "utterance" for m in wall)  # detail only on `watch`
    assert error["type"] == "error" and "unknown alert" in error["message"]
    detail = httpx.get(f"{secured.http}/v1/calls/ack-call",
                       headers={"Authorization": f"Bearer {TOKENS['qa']}"}).json()
    acks = [ack for alert in detail["alerts"] for ack in alert["acks"]]
    assert [(a["operator_id"], a["outcome"]) for a in acks] == [("op-1", "apologised")]
    assert acks[0]["seconds_to_ack"] >= 0
    assert httpx.get(f"{secured.http}/v1/calls/ack-call",
                     headers={"Authorization": f"Bearer {TOKENS['op2']}"}).status_code == 404


def test_serve_refuses_a_public_address_without_tokens(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_svc.cli", "serve", "--host", "0.0.0.0",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "without access tokens" in result.stderr


@pytest.mark.parametrize("origin,allowed", [("http://evil.example", False), (None, True)])
def test_browser_websockets_from_another_origin_are_refused(secured, origin, allowed):
    headers = {"Origin": origin} if origin else {}
    url = f"{secured.ws}/v1/operators/op-1/feed?token={TOKENS['op1']}"

    async def connect() -> int | None:
        async with websockets.connect(url, additional_headers=headers,
                                      origin=None) as socket:
            with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                await asyncio.wait_for(socket.recv(), 2)
            return socket.close_code

    code = asyncio.run(connect())
    assert (code == 4403) is not allowed


def test_same_origin_pages_may_connect(secured):
    url = f"{secured.ws}/v1/operators/op-1/feed?token={TOKENS['op1']}"

    async def connect() -> int | None:
        headers = {"Origin": f"http://127.0.0.1:{secured.port}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                await asyncio.wait_for(socket.recv(), 2)
            return socket.close_code

    assert asyncio.run(connect()) is None


def ticket_for(secured, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{secured.http}/v1/ws-ticket", headers=headers, timeout=10)


def test_a_ticket_opens_one_socket_once_with_its_tokens_role(secured):
    reply = ticket_for(secured, TOKENS["op1"])
    assert reply.status_code == 200, reply.text
    ticket = reply.json()["ticket"]
    assert reply.json()["expires_in_s"] > 0 and TOKENS["op1"] not in ticket
    url = f"{secured.ws}/v1/operators/op-1/feed?ticket={ticket}"
    assert asyncio.run(close_code(url)) is None
    assert asyncio.run(close_code(url)) == 4401  # single use


@pytest.mark.parametrize("path", ["/v1/operators/op-2/feed", "/v1/supervisor/feed"])
def test_a_ticket_carries_no_more_than_its_tokens_rights(secured, path):
    ticket = ticket_for(secured, TOKENS["op1"]).json()["ticket"]
    assert asyncio.run(close_code(f"{secured.ws}{path}?ticket={ticket}")) == 4403


def test_tickets_need_a_bearer_token(secured):
    assert ticket_for(secured, None).status_code == 401
    assert ticket_for(secured, "not-a-real-token-at-all").status_code == 401
    url = f"{secured.ws}/v1/supervisor/feed?ticket=made-up-ticket-value"
    assert asyncio.run(close_code(url)) == 4401
