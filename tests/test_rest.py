"""The REST API and websocket authentication over real sockets: uvicorn on loopback in a
thread, a real store (SQLite in tmp_path, and a database on a real PostgreSQL: every test
runs on both), httpx and websockets as the clients."""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sentiment_svc.domain.messages import CallSummary
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import Action, CallStatus, Category, Channel, Severity
from sentiment_svc.frames import Alert, Sentiment, UtteranceAnalysis
from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.db import CallStore
from sentiment_svc.storage.hop import StoreHop
from sentiment_svc.storage.postgres import PgCallStore
from sentiment_svc.web.auth import Role, TokenRegistry, hash_token, websocket_principal
from sentiment_svc.web.rest import router

T0 = 1_740_000_000.0  # 2025-02-19T21:20:00Z
LATER = T0 + 10_000  # calls the deletion tests make (and may leave) start here
TOKENS = {
    "ingest": "ingest-token-0123456789",
    "op1": "operator-one-token-0123",
    "op2": "operator-two-token-0123",
    "supervisor": "supervisor-token-012345",
    "qa": "qa-token-0123456789abcd",
}


def registry() -> TokenRegistry:
    return TokenRegistry.from_entries([
        {"role": "ingest", "token": TOKENS["ingest"]},
        {"role": "operator", "operator_id": "op-1", "sha256": hash_token(TOKENS["op1"])},
        {"role": "operator", "operator_id": "op-2", "token": TOKENS["op2"]},
        {"role": "supervisor", "sha256": hash_token(TOKENS["supervisor"])},
        {"role": "qa", "token": TOKENS["qa"]},
    ])


def utterance(text: str, start: float, channel: str = "customer",
              categories: tuple[str, ...] = ()) -> UtteranceAnalysis:
    return UtteranceAnalysis(
        channel=Channel(channel), start=start, end=start + 2.0, lang="ru", text=text,
        sentiment=Sentiment(neg=0.6, neu=0.3, pos=0.1),
        categories=tuple(Category(c) for c in categories), loudness_db=2.0,
    )


def add_call(store: CallRepository, call_id: str, *, operator: str = "op-1",
             customer: str | None = "cust-1", started_at: float = T0, end: bool = True,
             recording: bool = True) -> None:
    store.start_call(CallOpened(
        call_id=call_id, operator_id=operator, customer_id=customer, language="ru",
        protocol="native", started_at=started_at, sample_rate=8000, channels=2,
    ))
    store.add_utterance(call_id, utterance("Здравствуйте, слушаю вас", 0.0, "operator"))
    store.add_utterance(call_id, utterance("=Позовите РУКОВОДИТЕЛЯ немедленно", 3.0,
                                           categories=("escalation_request",)))
    alert_id = store.add_alert(call_id, Alert(
        t=5.0, action=Action.SUPERVISOR, severity=Severity.CRITICAL, reason="Supervisor asked",
        evidence=("Позовите руководителя",), categories=(Category.ESCALATION_REQUEST,),
    ))
    store.add_ack(call_id, alert_id, operator, "called_supervisor", started_at + 8, 3.0)
    if recording:
        writer = store.recordings.open_writer(call_id, 8000, 2)
        writer.write(np.full((8000, 2), 7, dtype=np.int16))
        writer.close()
    if end:
        store.end_call(call_id, CallStatus.COMPLETED, CallSummary(
            duration=7.0, utterances=2, alerts=1, negative_share=0.5, csat_estimate=2.5,
        ), started_at + 7)


@dataclass
class Server:
    url: str
    app: FastAPI
    store: CallRepository

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {}
        if who == "bad":
            headers["Authorization"] = "Bearer not-a-configured-token-at-all"
        elif who is not None:
            headers["Authorization"] = f"Bearer {TOKENS[who]}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def build_app(store: CallRepository, tokens: TokenRegistry) -> FastAPI:
    app = FastAPI(title="sentiment-svc test")
    app.state.store = store
    app.state.db = StoreHop(store)
    app.state.tokens = tokens
    app.include_router(router)

    @app.websocket("/ws")
    async def whoami(websocket: WebSocket) -> None:
        principal = await websocket_principal(websocket, websocket.app.state.tokens,
                                              {Role.SUPERVISOR, Role.OPERATOR})
        await websocket.accept()
        await websocket.send_json({"role": principal.role, "operator_id": principal.operator_id})
        await websocket.close()

    return app


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
           ) -> Iterator[Server]:
    if request.param == "postgres":
        store: CallRepository = PgCallStore(
            request.getfixturevalue("postgres_server").create_database())
    else:
        store = CallStore(tmp_path_factory.mktemp("data"))
    add_call(store, "c-op1", operator="op-1", customer="cust-1", started_at=T0)
    add_call(store, "c-op2", operator="op-2", customer="cust-2", started_at=T0 + 100)
    add_call(store, "c-live", operator="op-1", customer="cust-3", started_at=T0 + 200,
             end=False)
    add_call(store, "c-silent", operator="op-1", customer=None, started_at=T0 + 300,
             recording=False)
    app = build_app(store, registry())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{port}", app, store)
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


# -- the access-control matrix -------------------------------------------------------------

WHO = ("none", "bad", "ingest", "op1", "op2", "supervisor", "qa")
# c-op1 belongs to op-1: "op1" is the operator who owns it, "op2" another operator.
READ_EXPECTED = dict(zip(WHO, (401, 401, 403, 200, 404, 200, 200), strict=True))
DELETE_EXPECTED = dict(zip(WHO, (401, 401, 403, 403, 403, 204, 204), strict=True))
READ_ROUTES = (
    "/v1/calls/c-op1", "/v1/calls/c-op1/recording", "/v1/calls/c-op1/export?format=json",
    "/v1/calls/c-op1/export?format=csv",
)


def _client(server: Server, who: str) -> httpx.Client:
    return server.client(None if who == "none" else who)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("route", READ_ROUTES)
def test_read_access(server: Server, route: str, who: str) -> None:
    with _client(server, who) as client:
        response = client.get(route)
    assert response.status_code == READ_EXPECTED[who], response.text
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if response.status_code == 404:  # exactly what a missing call answers
        with _client(server, who) as client:
            missing = client.get(route.replace("c-op1", "c-nope"))
        assert missing.status_code == 404
        assert response.json()["detail"] == "no call 'c-op1'"


@pytest.mark.parametrize("who", WHO)
def test_list_access(server: Server, who: str) -> None:
    with _client(server, who) as client:
        response = client.get("/v1/calls", params={"until": LATER})
    expected = {"none": 401, "bad": 401, "ingest": 403}.get(who, 200)
    assert response.status_code == expected, response.text
    if expected == 200:
        listed = {call["call_id"] for call in response.json()["calls"]}
        everything = {"c-op1", "c-op2", "c-live", "c-silent"}
        own = {"op1": everything - {"c-op2"}, "op2": {"c-op2"}}
        assert listed == own.get(who, everything)


@pytest.mark.parametrize("who", WHO)
def test_delete_call_access(server: Server, who: str) -> None:
    call_id = f"del-{who}"
    add_call(server.store, call_id, started_at=LATER)
    with _client(server, who) as client:
        response = client.delete(f"/v1/calls/{call_id}")
    assert response.status_code == DELETE_EXPECTED[who], response.text
    assert (server.store.get_call(call_id) is None) == (response.status_code == 204)
    assert server.store.recordings.exists(call_id) == (response.status_code != 204)
    if response.status_code == 204:
        with server.client("supervisor") as client:
            assert client.get(f"/v1/calls/{call_id}").status_code == 404
            assert client.delete(f"/v1/calls/{call_id}").status_code == 404


@pytest.mark.parametrize("who", WHO)
def test_delete_customer_access(server: Server, who: str) -> None:
    customer = f"erase-{who}"
    add_call(server.store, f"{customer}-a", customer=customer, started_at=LATER)
    add_call(server.store, f"{customer}-b", customer=customer, operator="op-2",
             started_at=LATER)
    with _client(server, who) as client:
        response = client.delete(f"/v1/customers/{customer}")
    expected = 200 if DELETE_EXPECTED[who] == 204 else DELETE_EXPECTED[who]
    assert response.status_code == expected, response.text
    left = [c for c in (f"{customer}-a", f"{customer}-b") if server.store.get_call(c)]
    if expected == 200:
        assert response.json() == {"customer_id": customer, "deleted_calls": 2}
        assert left == []
        assert not server.store.recordings.exists(f"{customer}-a")
    else:
        assert len(left) == 2


def test_open_registry_needs_no_token(server: Server) -> None:
    server.app.state.tokens = TokenRegistry()
    try:
        with server.client() as client:
            assert client.get("/v1/calls/c-op2").status_code == 200
    finally:
        server.app.state.tokens = registry()


# -- what the routes answer ----------------------------------------------------------------

def test_list_filters_and_pages(server: Server) -> None:
    with server.client("qa") as client:
        def listed(**params: object) -> list[str]:
            response = client.get("/v1/calls", params=params)
            assert response.status_code == 200, response.text
            return [call["call_id"] for call in response.json()["calls"]]

        assert listed(since="2025-02-19T21:21:40Z", until=T0 + 250) == ["c-live", "c-op2"]
        assert listed(since=T0 + 100, until="2025-02-19T21:25:00") == ["c-live", "c-op2"]
        assert listed(operator_id="op-2", until=LATER) == ["c-op2"]
        assert listed(q="руководителя", until=T0 + 400) == [
            "c-silent", "c-live", "c-op2", "c-op1"]
        assert listed(q="ЗДРАВСТВУЙТЕ слушаю", operator_id="op-2", until=LATER) == ["c-op2"]
        assert listed(q="нет такого слова") == []
        assert listed(category="escalation_request", until=T0 + 150) == ["c-op2", "c-op1"]
        assert listed(has_alert=False, until=LATER) == []
        page = client.get("/v1/calls", params={"limit": 2, "until": T0 + 400}).json()
        assert [c["call_id"] for c in page["calls"]] == ["c-silent", "c-live"]
        assert page["next_offset"] == 2
        page = client.get("/v1/calls", params={"limit": 2, "offset": 2, "until": T0 + 400})
        assert page.json()["next_offset"] is None
        assert client.get("/v1/calls", params={"limit": 201}).status_code == 422
        # An offset past 64 bits (or past any listing) is a clear 422, not a 500.
        for offset in (2**64, 10**9 + 1):
            assert client.get("/v1/calls", params={"offset": offset}).status_code == 422
        bad = client.get("/v1/calls", params={"since": "yesterday"})
        assert bad.status_code == 422 and "since" in bad.json()["detail"]
    with server.client("op2") as client:  # an operator cannot look at another's calls
        response = client.get("/v1/calls", params={"operator_id": "op-1"})
        assert response.json()["calls"] == []


def test_detail(server: Server) -> None:
    with server.client("op1") as client:
        detail = client.get("/v1/calls/c-op1").json()
    assert detail == server.store.get_call("c-op1").model_dump(mode="json")
    assert detail["status"] == "completed" and detail["recording"] is True
    assert detail["summary"]["csat_estimate"] == 2.5
    assert detail["alerts"][0]["acks"][0]["outcome"] == "called_supervisor"
    assert detail["utterances"][1]["text"] == "=Позовите РУКОВОДИТЕЛЯ немедленно"


def test_recording(server: Server) -> None:
    with server.client("supervisor") as client:
        response = client.get("/v1/calls/c-op1/recording")
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        assert response.content == server.store.recordings.read("c-op1")
        assert response.content[:4] == b"RIFF" and len(response.content) == 44 + 8000 * 4
        assert client.get("/v1/calls/c-silent/recording").status_code == 404
        live = client.get("/v1/calls/c-live/recording")
        assert live.status_code == 409 and "live" in live.json()["detail"]
        assert client.delete("/v1/calls/c-live").status_code == 409
        assert client.delete("/v1/customers/cust-3").status_code == 409
        assert server.store.get_call("c-live") is not None
        ranged = client.get("/v1/calls/c-op1/recording", headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 206 and ranged.content == b"RIFF"
        assert ranged.headers["content-range"] == f"bytes 0-3/{len(response.content)}"
        tail = client.get("/v1/calls/c-op1/recording", headers={"Range": "bytes=-4"})
        assert tail.status_code == 206 and tail.content == response.content[-4:]
        outside = client.get("/v1/calls/c-op1/recording", headers={"Range": "bytes=99999-"})
        assert outside.status_code == 416


def test_export(server: Server) -> None:
    with server.client("qa") as client:
        as_json = client.get("/v1/calls/c-op1/export", params={"format": "json"})
        as_csv = client.get("/v1/calls/c-op1/export", params={"format": "csv"})
        assert client.get("/v1/calls/c-op1/export?format=xml").status_code == 422
    assert as_json.json() == client_detail(server, "c-op1")
    assert as_json.headers["content-disposition"] == 'attachment; filename="c-op1.json"'
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [row["seq"] for row in rows] == ["0", "1"]
    assert rows[0]["alert_actions"] == ""
    assert rows[1]["alert_actions"] == "supervisor"  # fired at the end of utterance 1
    assert rows[1]["ack_outcomes"] == "called_supervisor"
    assert rows[1]["categories"] == "escalation_request"
    assert rows[1]["text"] == "'=Позовите РУКОВОДИТЕЛЯ немедленно"  # no spreadsheet formula


def client_detail(server: Server, call_id: str) -> dict:
    with server.client("supervisor") as client:
        return client.get(f"/v1/calls/{call_id}").json()


def test_openapi_lists_the_routes(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/v1/calls"]) == {"get"}
    assert set(paths["/v1/calls/{call_id}"]) == {"get", "delete"}
    assert set(paths["/v1/calls/{call_id}/recording"]) == {"get"}
    assert set(paths["/v1/calls/{call_id}/export"]) == {"get"}
    assert set(paths["/v1/customers/{customer_id}"]) == {"delete"}
    assert {"CallDetail", "CallPage", "StoredUtterance", "StoredAlert", "ErasureOut"} <= set(
        schema["components"]["schemas"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    params = {p["name"] for p in paths["/v1/calls"]["get"]["parameters"]}
    assert params == {"since", "until", "operator_id", "has_alert", "category", "q", "limit",
                      "offset"}
    assert "audio/wav" in paths["/v1/calls/{call_id}/recording"]["get"]["responses"]["200"][
        "content"]


# -- websocket authentication ----------------------------------------------------------------

def _ws_url(server: Server, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/ws" + query


@pytest.mark.parametrize(("token", "code", "reason"), [
    (None, 4401, "a token is required"),
    ("not-a-configured-token-at-all", 4401, "unknown token"),
    (TOKENS["ingest"], 4403, "the ingest role may not use this"),
    (TOKENS["qa"], 4403, "the qa role may not use this"),
])
def test_websocket_rejections(server: Server, token: str | None, code: int, reason: str) -> None:
    query = "" if token is None else f"?token={token}"
    with connect(_ws_url(server, query)) as ws, pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=5)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (code, reason)


def test_websocket_token_in_query_or_header(server: Server) -> None:
    with connect(_ws_url(server, f"?token={TOKENS['op1']}")) as ws:
        assert ws.recv(timeout=5) == '{"role":"operator","operator_id":"op-1"}'
    headers = {"Authorization": f"Bearer {TOKENS['supervisor']}"}
    with connect(_ws_url(server), additional_headers=headers) as ws:
        assert ws.recv(timeout=5) == '{"role":"supervisor","operator_id":null}'
