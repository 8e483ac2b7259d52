"""Text contacts end to end over real sockets: the REST endpoint, the live chat websocket,
the operator feed, the customer timeline and erasure, and every bad input (refused with a
clear 4xx, nothing changed). The service is the real app; only the models are stand-ins
(`tests.contacts_server`). The store's side (channels, timeline, history, erasure) also runs
on both backends, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiment_svc.domain.messages import CallSummary
from sentiment_svc.domain.records import CallOpened
from sentiment_svc.domain.vocabulary import Action, CallStatus, Category, Channel, Severity
from sentiment_svc.frames import Alert, Sentiment, UtteranceAnalysis
from sentiment_svc.storage.base import CallRepository
from tests.contacts_server import ContactsServer, Feed, contacts_server
from tests.stores import MakeStore, count_rows

MONEY = "Здравствуйте, мне не вернули деньги."
MONEY_AGAIN = "Где мои деньги? Верните деньги!"
SUPERVISOR = "Позовите руководителя, немедленно."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContactsServer]:
    with contacts_server(tmp_path_factory.mktemp("contacts")) as live:
        yield live


def message(text: str, customer: str = "cust-chat", channel: str = "chat",
            sender: str = "customer", **extra) -> dict:
    return {"customer_id": customer, "operator_id": "op-1", "channel": channel,
            "sender": sender, "text": text, **extra}


def post(server: ContactsServer, contact_id: str, body, who: str = "ingest"):
    with server.client(who) as client:
        if isinstance(body, bytes | str):
            return client.post(f"/v1/contacts/{contact_id}/messages", content=body,
                               headers={"Content-Type": "application/json"})
        return client.post(f"/v1/contacts/{contact_id}/messages", json=body)


def stored(server: ContactsServer) -> dict:
    """Everything the store holds, to show that a refused message changed nothing."""
    with server.client("supervisor") as client:
        calls = client.get("/v1/calls", params={"limit": 200}).json()["calls"]
        return {c["call_id"]: client.get(f"/v1/calls/{c['call_id']}").json() for c in calls}


def test_a_chat_message_is_analysed_stored_and_alerts_the_console_like_a_call(server):
    feed = Feed(server)
    try:
        first = post(server, "chat-1", message(MONEY))
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["utterance"]["categories"] == ["money"]
        assert body["utterance"]["channel"] == "customer" and body["utterance"]["seq"] == 0
        assert body["utterance"]["raised_voice"] is False  # there is no voice in a chat
        # the label guide: money lost is a bonus, from the first message
        assert [(a["action"], a["severity"]) for a in body["alerts"]] == [("bonus", "warning")]
        assert body["alerts"][0]["reason"].startswith("The customer lost money")
        assert any("деньги" in quote for quote in body["alerts"][0]["evidence"])
        second = post(server, "chat-1", message(MONEY_AGAIN)).json()
        assert second["alerts"] == []  # the bonus card still stands: no second card for it
        # the operator's console receives the chat as it receives a call: the same messages
        started = feed.wait_for("call_started", "chat-1")
        assert started["protocol"] == "text"
        alert = feed.wait_for("alert", "chat-1")
        assert alert == {**body["alerts"][0], "type": "alert"}
        deadline = time.monotonic() + 10
        while len(feed.of("utterance", "chat-1")) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # the second message's utterance follows the first one's alert
        assert [u["text"] for u in feed.of("utterance", "chat-1")] == [MONEY, MONEY_AGAIN]
        # the operator's answer is read as in a call: the open alert is addressed
        third = post(server, "chat-1", message("Приносим извинения, мы предложим вам бонус.",
                                               sender="operator")).json()
        assert [a["source"] for a in third["acked"]] == ["speech"]
        assert third["acked"][0]["alert_id"] == alert["alert_id"]
        with server.client() as client:
            ended = client.post("/v1/contacts/chat-1/end")
        assert ended.status_code == 200 and ended.json()["summary"]["utterances"] == 3
        feed.wait_for("call_ended", "chat-1")
    finally:
        feed.close()
    with server.client("supervisor") as client:
        detail = client.get("/v1/calls/chat-1").json()
        found = client.get("/v1/calls", params={"q": "деньги"}).json()["calls"]
    assert detail["contact_channel"] == "chat" and detail["status"] == "completed"
    assert detail["recording"] is False and len(detail["utterances"]) == 3
    assert detail["alerts"][0]["acks"][0]["outcome"] == "offered_bonus"
    assert "chat-1" in [c["call_id"] for c in found]  # search covers every channel


def test_an_email_is_read_without_its_quoted_thread_and_signature(server):
    body = ("Добрый день. Верните деньги, уже неделю жду.\n\nС уважением,\nИван\n\n"
            "пн, 7 дек. 2026 г. в 10:15, Служба поддержки <support@shop.example>:\n"
            "> Приносим извинения, мы вернём деньги.\n")
    answer = post(server, "mail-1", message(body, customer="cust-mail", channel="email"))
    assert answer.status_code == 200, answer.text
    utterance = answer.json()["utterance"]
    assert utterance["text"] == "Добрый день. Верните деньги, уже неделю жду."
    assert "money" in utterance["categories"]
    with server.client() as client:
        client.post("/v1/contacts/mail-1/end")


def test_personal_data_in_a_chat_is_masked_before_it_is_stored(server):
    answer = post(server, "chat-pii", message("Моя карта 4276 3800 1234 5675, верните деньги",
                                              customer="cust-pii")).json()
    assert "4276" not in answer["utterance"]["text"]
    with server.client() as client:
        client.post("/v1/contacts/chat-pii/end")


def test_live_chat_websocket_answers_each_message_and_ends_with_the_socket(server):
    with server.socket("/v1/contacts/ws-chat-1/chat") as chat:
        chat.send(json.dumps({"type": "message", **message(MONEY, customer="cust-ws")}))
        first = json.loads(chat.recv(timeout=10))
        assert first["type"] == "accepted" and "money" in first["utterance"]["categories"]
        for bad, code in (("{not json", "malformed"),
                          (json.dumps({"type": "message", **message("x", channel="fax")}),
                           "invalid"),
                          (json.dumps({"type": "message", **message("x", customer="other")}),
                           "conflict"),
                          (json.dumps({"type": "hello"}), "invalid")):
            chat.send(bad)
            error = json.loads(chat.recv(timeout=10))
            assert (error["type"], error["code"]) == ("error", code), error
        chat.send(json.dumps({"type": "message", **message(SUPERVISOR, customer="cust-ws")}))
        second = json.loads(chat.recv(timeout=10))
        assert [(a["action"], a["severity"]) for a in second["alerts"]] == [
            ("supervisor", "critical")]
        assert second["utterance"]["seq"] == 1  # the refused frames stored nothing
    deadline = time.monotonic() + 10
    with server.client("supervisor") as client:
        while (detail := client.get("/v1/calls/ws-chat-1").json())["status"] == "live":
            assert time.monotonic() < deadline, "the chat did not end with its socket"
            time.sleep(0.05)
    assert detail["status"] == "completed" and len(detail["utterances"]) == 2


def test_live_chat_end_message_answers_with_the_summary(server):
    with server.socket("/v1/contacts/ws-chat-2/chat") as chat:
        chat.send(json.dumps({"type": "message", **message("Спасибо, всё решили!",
                                                           customer="cust-ws2")}))
        assert json.loads(chat.recv(timeout=10))["utterance"]["categories"] == ["gratitude"]
        chat.send(json.dumps({"type": "end"}))
        ended = json.loads(chat.recv(timeout=10))
    assert ended["type"] == "ended" and ended["summary"]["utterances"] == 1


def test_websocket_refuses_other_roles(server):
    from websockets.exceptions import ConnectionClosed

    with server.socket("/v1/contacts/ws-x/chat", who="op1") as chat, \
            pytest.raises(ConnectionClosed) as closed:
        chat.recv(timeout=10)
    assert closed.value.rcvd.code == 4403


OVERSIZED = json.dumps(message("д" * 100_001), ensure_ascii=False)


@pytest.mark.parametrize(
    ("contact_id", "body", "who", "status", "says"),
    [
        ("bad-1", OVERSIZED, "ingest", 422, "at most 100000 characters"),
        ("bad-1", "{" + " " * 600_000 + "}", "ingest", 413, "over"),
        ("bad-1", message(MONEY, channel="fax"), "ingest", 422, "channel"),
        ("bad-1", message(MONEY, sender="bot"), "ingest", 422, "sender"),
        ("bad-1", "{\"customer_id\": \"c\", ", "ingest", 400, "not valid JSON"),
        ("bad-1", "[]", "ingest", 422, "object"),
        ("bad-1", {k: v for k, v in message(MONEY).items() if k != "customer_id"}, "ingest",
         422, "customer_id"),
        ("bad-1", message(MONEY, extra_field=1), "ingest", 422, "extra_field"),
        ("bad-1", message("   "), "ingest", 422, "no text"),
        ("bad-1", message("> только цитата\n", channel="email"), "ingest", 422, "quoted"),
        ("bad-1", message("д" * 4001), "ingest", 422, "at most 4000"),
        ("bad-1", message(MONEY, sent_at=time.time() + 86400), "ingest", 422, "future"),
        ("bad-1", message(MONEY), None, 401, "token"),
        ("bad-1", message(MONEY), "op1", 403, "role"),
        ("bad-1", message(MONEY), "supervisor", 403, "role"),
        ("open-1", message(MONEY, customer="someone-else"), "ingest", 409, "another customer"),
        ("open-1", message(MONEY, channel="messenger"), "ingest", 409, "is a chat"),
        ("ended-1", message(MONEY), "ingest", 409, "has ended"),
    ],
    ids=["oversized-text", "oversized-body", "wrong-channel", "wrong-sender", "malformed-json",
         "not-an-object", "no-customer", "unknown-field", "blank", "email-only-quotes",
         "too-long-to-analyse", "future", "no-token", "operator-token", "supervisor-token",
         "unknown-customer", "channel-switch", "ended-contact"],
)
def test_bad_input_is_refused_with_a_clear_4xx_and_changes_nothing(
    server, contact_id, body, who, status, says,
):
    if contact_id == "open-1" and not server_has(server, "open-1"):
        assert post(server, "open-1", message(MONEY, customer="cust-open")).status_code == 200
    if contact_id == "ended-1" and not server_has(server, "ended-1"):
        assert post(server, "ended-1", message(MONEY, customer="cust-end")).status_code == 200
        with server.client() as client:
            assert client.post("/v1/contacts/ended-1/end").status_code == 200
    before = stored(server)
    answer = post(server, contact_id, body, who=who)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"], answer.json()
    assert "д" * 50 not in answer.text  # the refused text is not echoed back
    assert stored(server) == before


def server_has(server: ContactsServer, call_id: str) -> bool:
    with server.client("supervisor") as client:
        return client.get(f"/v1/calls/{call_id}").status_code == 200


def test_an_idle_contact_ends_by_itself(tmp_path: Path):
    with contacts_server(tmp_path, contact_idle_timeout_s=0.3) as server:
        assert post(server, "idle-1", message(MONEY)).status_code == 200
        deadline = time.monotonic() + 10
        with server.client("supervisor") as client:
            while client.get("/v1/calls/idle-1").json()["status"] == "live":
                assert time.monotonic() < deadline, "the idle contact never ended"
                time.sleep(0.05)
        again = post(server, "idle-1", message(MONEY))
        assert again.status_code == 409 and "has ended" in again.json()["detail"]


def test_readyz_counts_live_text_contacts_apart_from_live_calls(tmp_path: Path):
    """A balancer reads `live_calls` as recognition load: a chat is not one."""
    with contacts_server(tmp_path) as server, server.client() as client:
        assert post(server, "ready-1", message(MONEY)).status_code == 200
        ready = client.get("/readyz").json()
        assert (ready["live_calls"], ready["text_contacts"]) == (0, 1)
        assert client.post("/v1/contacts/ready-1/end").status_code == 200
        ready = client.get("/readyz").json()
        assert (ready["live_calls"], ready["text_contacts"]) == (0, 0)


def test_ending_an_unknown_contact_is_404(server):
    with server.client() as client:
        assert client.post("/v1/contacts/never-seen/end").status_code == 404


def _past_call(store: CallRepository, call_id: str, customer: str, started_at: float, *,
               channel: str, texts: list[tuple[str, tuple[str, ...]]], ack: str | None = None
               ) -> None:
    store.start_call(CallOpened(
        call_id=call_id, operator_id="op-1", customer_id=customer, language="ru",
        protocol="text" if channel != "phone" else "native", started_at=started_at,
        sample_rate=16000, channels=2, contact_channel=channel,
    ))
    for n, (text, categories) in enumerate(texts):
        store.add_utterance(call_id, UtteranceAnalysis(
            channel=Channel.CUSTOMER, start=n * 10.0, end=n * 10.0 + 2, lang="ru", text=text,
            sentiment=Sentiment(neg=0.8, neu=0.1, pos=0.1),
            categories=tuple(Category(c) for c in categories),
        ))
    if ack is not None:
        alert_id = store.add_alert(call_id, Alert(
            t=2.0, action=Action.APOLOGY, severity=Severity.WARNING, reason="The customer is upset",
            evidence=(texts[0][0],), categories=tuple(Category(c) for c in texts[0][1]),
        ))
        store.add_ack(call_id, alert_id, "op-1", ack, started_at + 5, 3.0)
    store.end_call(call_id, CallStatus.COMPLETED, CallSummary(
        duration=20, utterances=len(texts), alerts=int(ack is not None), negative_share=1.0,
        csat_estimate=2.0), started_at + 20)


def test_timeline_card_seeding_and_erasure_cover_every_channel(tmp_path: Path,
                                                               make_store: MakeStore):
    """Over the REST API and the operator feed, on either store (the service on the same
    SQLite directory, or on the same PostgreSQL database)."""
    now = time.time()
    store = make_store()
    _past_call(store, "old-call", "cust-9", now - 3 * 86400, channel="phone",
               texts=[("Мне нагрубили", ("rudeness",))], ack="apologised")
    _past_call(store, "chat-yesterday", "cust-9", now - 86400, channel="chat",
               texts=[("Верните деньги", ("money",)), ("Ничего не помогло", ("not_helped",))])
    store.close()
    (tmp_path / "data").mkdir(exist_ok=True)  # as `serve` makes it (the customer-id key)
    with contacts_server(tmp_path / "data", database_url=make_store.url) as server:
        with server.client("qa") as client:
            timeline = client.get("/v1/customers/cust-9/timeline").json()
            assert client.get("/v1/customers/nobody/timeline").status_code == 404
        assert [c["contact_id"] for c in timeline["contacts"]] == ["chat-yesterday", "old-call"]
        chat, call = timeline["contacts"]
        assert (chat["channel"], call["channel"]) == ("chat", "phone")
        assert chat["unresolved"] == ["money", "not_helped"] and chat["outcome"] == "unresolved"
        assert call["unresolved"] == [] and call["outcome"] == "resolved"  # apologised
        assert call["alerts"][0]["outcome"] == "apologised"
        assert [p["value"] for p in chat["sentiment_curve"]] == [-0.7, -0.7]

        feed = Feed(server)
        try:
            # today the customer writes again: the card shows yesterday's chat, and the
            # money complaint raised there counts as repeated at its first mention
            answer = post(server, "chat-today", message("Где мои деньги?", customer="cust-9"))
            assert [a["reason"] for a in answer.json()["alerts"]] == [
                "The same money or repeat-contact complaint came up again"]
            card = feed.wait_for("customer_card", "chat-today")
        finally:
            feed.close()
        assert card["repeat_count"] == 2 and card["last_outcome"] == "unresolved"
        assert [c["contact_id"] for c in card["contacts"]] == ["chat-yesterday", "old-call"]
        assert [(o["category"], o["channel"]) for o in card["open_complaints"]] == [
            ("money", "chat"), ("not_helped", "chat")]
        assert card["contacts"][1]["last_ack"] == "apologised"

        with server.client("supervisor") as client:
            assert client.delete("/v1/customers/cust-9").status_code == 409  # chat-today live
            client.post("/v1/contacts/chat-today/end",
                        headers={"Authorization": "Bearer ingest-token-0123456789"})
            erased = client.delete("/v1/customers/cust-9").json()
            assert erased["deleted_calls"] == 3  # the call and both chats
            assert client.get("/v1/customers/cust-9/timeline").status_code == 404


def test_the_store_keeps_each_channel_and_the_customer_timeline(make_store: MakeStore):
    """On either backend: a contact's channel round-trips; the timeline mixes a customer's
    calls and chats newest first with their complaints, outcome, alerts, mood curve and
    summary, within its window; the history counts a window's finished contacts; erasing
    the customer takes every channel."""
    store, now = make_store(), time.time()
    _past_call(store, "old-call", "cust-9", now - 3 * 86400, channel="phone",
               texts=[("Мне нагрубили", ("rudeness",))], ack="apologised")
    _past_call(store, "chat-yesterday", "cust-9", now - 86400, channel="chat",
               texts=[("Верните деньги", ("money",)), ("Ничего не помогло", ("not_helped",))])
    _past_call(store, "mail-other", "cust-1", now - 3600, channel="email",
               texts=[("Спасибо", ())])
    store.start_call(CallOpened(
        call_id="chat-now", operator_id="op-2", customer_id="cust-9", language="ru",
        protocol="text", started_at=now, sample_rate=16000, channels=2,
        contact_channel="messenger"))
    assert [(c.call_id, c.contact_channel) for c in store.list_calls()] == [
        ("chat-now", "messenger"), ("mail-other", "email"), ("chat-yesterday", "chat"),
        ("old-call", "phone")]
    assert store.get_call("chat-yesterday").contact_channel == "chat"

    timeline = store.customer_timeline("cust-9", exclude="chat-now")
    assert [(c.contact_id, c.channel) for c in timeline.contacts] == [
        ("chat-yesterday", "chat"), ("old-call", "phone")]
    chat, call = timeline.contacts
    assert chat.unresolved == ("money", "not_helped") and chat.outcome == "unresolved"
    assert [p.value for p in chat.sentiment_curve] == [-0.7, -0.7]
    assert chat.summary.negative_share == 1.0 and chat.status == "completed"
    assert call.unresolved == () and call.outcome == "resolved"  # apologised
    assert [(a.action, a.outcome, a.seconds_to_ack) for a in call.alerts] == [
        ("apology", "apologised", 3.0)]
    assert [c.contact_id for c in store.customer_timeline("cust-9").contacts] == [
        "chat-now", "chat-yesterday", "old-call"]
    assert store.customer_timeline("cust-9").contacts[0].status == "live"
    window = store.customer_timeline("cust-9", since=now - 2 * 86400, before=now)
    assert [c.contact_id for c in window.contacts] == ["chat-yesterday"]
    assert [c.contact_id for c in store.customer_timeline("cust-9", limit=1).contacts] == [
        "chat-now"]
    assert store.customer_timeline("nobody").contacts == ()

    history = store.customer_history("cust-9", since=now - 7 * 86400)
    assert (history.previous_calls, history.negative_calls) == (2, 2)  # not the live one
    assert history.categories == {"money": 1, "not_helped": 1, "rudeness": 1}
    earlier = store.customer_history("cust-9", since=now - 7 * 86400, until=now - 2 * 86400)
    assert (earlier.previous_calls, earlier.categories) == (1, {"rudeness": 1})

    store.end_call("chat-now", CallStatus.COMPLETED, None, now + 1)
    assert store.delete_customer("cust-9") == 3
    assert store.customer_timeline("cust-9").contacts == ()
    assert count_rows(store, "calls") == 1  # the other customer's e-mail stays


def test_the_openapi_schema_documents_the_message_body(server):
    with server.client(None) as client:
        schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/contacts/{contact_id}/messages"]["post"]["requestBody"]
    refs = json.dumps(body).split('"$ref": "')[1:]
    for ref in (part.split('"')[0] for part in refs):  # every reference resolves
        assert ref.removeprefix("#/components/schemas/") in schema["components"]["schemas"]
    assert "text" in json.dumps(body)
