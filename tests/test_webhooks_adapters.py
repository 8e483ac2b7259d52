"""The Bitrix24 and amoCRM adapters against a local server that checks the vendors'
documented request shapes exactly (paths, headers, JSON bodies), with contacts written
through the real store and delivered by the real worker."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from sentiment_svc.domain.vocabulary import ContactChannel
from sentiment_svc.storage.hop import StoreHop
from tests.crm_server import (
    CrmServer,
    Received,
    delivering,
    open_store,
    play_contact,
    targets,
    wait_for,
)

WEBHOOK_CODE = "k3y0fthew3bh00k"  # a Bitrix24 inbound webhook's code: a secret in its URL
B24_BASE = f"/rest/1/{WEBHOOK_CODE}"
AMO_TOKEN = "amo-long-lived-token-0123456789"
B24_CALL_ID = "externalCall.0cd02f0bc9dd180dfd355522b0fde568.1765000000"


class FakeBitrix24:
    """Answers like Bitrix24: register finds the customer's CONTACT 42."""

    def __init__(self, fail_once: str | None = None) -> None:
        self.fail_once = fail_once

    def __call__(self, request: Received) -> tuple[int, dict]:
        method = request.path.removeprefix(B24_BASE + "/")
        if method == self.fail_once:
            self.fail_once = None
            return 503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"}
        if method == "telephony.externalcall.register":
            return 200, {"result": {"CALL_ID": B24_CALL_ID, "CRM_ENTITY_TYPE": "CONTACT",
                                    "CRM_ENTITY_ID": 42, "CRM_CREATED_LEAD": None}}
        return 200, {"result": True}


def bitrix(url: str, **extra) -> dict:
    return {"name": "b24", "kind": "bitrix24", "url": url, "users": {"op-7": 15},
            "default_user_id": 1, **extra}


def run_contacts(tmp_path: Path, crm: CrmServer, entry: dict, count: int, contacts,
                 channel: ContactChannel = ContactChannel.PHONE) -> None:
    config = targets(entry)
    hop = StoreHop(open_store(tmp_path, config))

    async def scenario() -> None:
        async with delivering(config, hop):
            for call_id, customer, operator in contacts:
                await play_contact(hop, call_id, customer=customer, operator=operator,
                                   channel=channel)
            await wait_for(lambda: len(crm.requests()) >= count, 15, f"{count} requests")
            await asyncio.sleep(0.3)  # and no more
            assert hop.store.webhook_pending() == {}

    try:
        asyncio.run(scenario())
    finally:
        crm.stop()
        hop.close()


def test_bitrix24_external_call_transcript_and_timeline_comments(tmp_path: Path) -> None:
    crm = CrmServer(FakeBitrix24()).start()
    entry = bitrix(crm.url(B24_BASE + "/"),
                   events=["contact_started", "alert", "alert_acknowledged", "contact_ended"])
    run_contacts(tmp_path, crm, entry, 6, [("call-1", "+7 916 123-45-67", "op-7")])
    requests = crm.requests()
    assert [r.path for r in requests] == [f"{B24_BASE}/{m}" for m in (
        "telephony.externalcall.register", "crm.timeline.comment.add",
        "crm.timeline.comment.add", "telephony.externalcall.finish",
        "telephony.call.attachTranscription", "crm.timeline.comment.add")]
    assert all(r.headers["content-type"] == "application/json" for r in requests)
    register = requests[0].json()
    started = register.pop("CALL_START_DATE")
    assert started.endswith("+00:00") and "T" in started  # ISO 8601
    # the number is stored masked, never whole (152-FZ): the CRM gets the masked label
    assert register == {"USER_ID": 15, "PHONE_NUMBER": "+7 916 *** ** 67", "TYPE": 2,
                        "CRM_CREATE": 0, "SHOW": 0}
    alert, ack = requests[1].json(), requests[2].json()
    assert set(alert) == {"fields"} and set(alert["fields"]) == {
        "ENTITY_ID", "ENTITY_TYPE", "COMMENT"}
    assert alert["fields"]["ENTITY_ID"] == 42 and alert["fields"]["ENTITY_TYPE"] == "contact"
    assert "извиниться" in alert["fields"]["COMMENT"]
    assert "Мне опять не помогли" in alert["fields"]["COMMENT"]
    assert ack["fields"]["COMMENT"] == "Подсказка «извиниться»: оператор извинился"
    assert requests[3].json() == {"CALL_ID": B24_CALL_ID, "USER_ID": 15, "DURATION": 62,
                                  "STATUS_CODE": "200"}
    assert requests[4].json() == {"CALL_ID": B24_CALL_ID, "MESSAGES": [
        {"SIDE": "Client", "START_TIME": 2, "STOP_TIME": 5, "MESSAGE": "Мне опять не помогли"},
        {"SIDE": "User", "START_TIME": 5, "STOP_TIME": 8, "MESSAGE": "Простите, сейчас решим"},
    ]}
    summary = requests[5].json()["fields"]
    assert summary["ENTITY_ID"] == 42 and summary["ENTITY_TYPE"] == "contact"
    assert "CSAT ≈ 2.4/5" in summary["COMMENT"] and "извиниться" in summary["COMMENT"]
    assert "извинился" in summary["COMMENT"]


def test_bitrix24_resumes_an_ended_call_after_the_step_that_failed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """finish went, the transcript was refused once: the retry sends the transcript (and
    the rest), not finish again; the failure's log line names no secret."""
    caplog.set_level(logging.DEBUG)
    crm = CrmServer(FakeBitrix24(fail_once="telephony.call.attachTranscription")).start()
    run_contacts(tmp_path, crm, bitrix(crm.url(B24_BASE)), 5, [("call-2", "cust-9", "op-x")])
    methods = [r.path.rsplit("/", 1)[1] for r in crm.requests()]
    assert methods == ["telephony.externalcall.register", "telephony.externalcall.finish",
                       "telephony.call.attachTranscription",
                       "telephony.call.attachTranscription", "crm.timeline.comment.add"]
    assert crm.requests()[0].json()["USER_ID"] == 1  # op-x is not mapped: the default user
    assert crm.requests()[0].json()["PHONE_NUMBER"] == "cust-9"
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(failures) == 1
    assert "b24" in failures[0] and "contact_ended" in failures[0] and "call-2" in failures[0]
    assert "HTTP 503" in failures[0] and "QUERY_LIMIT_EXCEEDED" in failures[0]
    assert WEBHOOK_CODE not in caplog.text


def test_bitrix24_comments_nothing_where_the_number_matched_no_crm_object(
        tmp_path: Path) -> None:
    def nothing_found(request: Received) -> tuple[int, dict]:
        if request.path.endswith("register"):
            return 200, {"result": {"CALL_ID": B24_CALL_ID}}
        return 200, {"result": True}

    crm = CrmServer(nothing_found).start()
    run_contacts(tmp_path, crm, bitrix(crm.url(B24_BASE)), 3, [("call-3", None, "op-7")])
    assert [r.path.rsplit("/", 1)[1] for r in crm.requests()] == [
        "telephony.externalcall.register", "telephony.externalcall.finish",
        "telephony.call.attachTranscription"]
    assert crm.requests()[0].json()["PHONE_NUMBER"] == ""


def test_amocrm_call_note_with_the_summary(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    crm = CrmServer(lambda r: (200, {"_embedded": {"notes": [{"id": 1}]}})).start()
    entry = {"name": "amo", "kind": "amocrm", "url": crm.url(), "token": AMO_TOKEN,
             "entity": "contacts", "call_url": "https://svc.example.com/qa?call={contact_id}"}
    # the second contact has no amoCRM id: nothing to put its note on, and nothing blocked
    run_contacts(tmp_path, crm, entry, 1, [("call-4", "12345", "op-1"),
                                           ("call-5", "not-an-amo-id", "op-1")])
    (request,) = crm.requests()
    assert request.path == "/api/v4/contacts/notes"
    assert request.headers["authorization"] == f"Bearer {AMO_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    (note,) = request.json()
    result = note["params"].pop("call_result")
    assert note == {"entity_id": 12345, "note_type": "call_in", "params": {
        "uniq": "call-4", "duration": 62, "source": "sentiment-svc",
        "link": "https://svc.example.com/qa?call=call-4", "phone": "", "call_status": 4}}
    assert "CSAT ≈ 2.4/5" in result and "извинился" in result
    assert "call-5" in caplog.text and "no numeric customer id" in caplog.text
    assert AMO_TOKEN not in caplog.text


def test_a_chat_becomes_a_plain_amocrm_note_and_no_bitrix24_call(tmp_path: Path) -> None:
    amo = CrmServer(lambda r: (200, {"_embedded": {"notes": [{"id": 1}]}})).start()
    entry = {"name": "amo", "kind": "amocrm", "url": amo.url(), "token": AMO_TOKEN,
             "entity": "contacts"}
    run_contacts(tmp_path / "amo", amo, entry, 1, [("chat-1", "12345", "op-1")],
                 ContactChannel.CHAT)
    (request,) = amo.requests()
    (note,) = request.json()
    assert note["entity_id"] == 12345 and note["note_type"] == "common"
    assert set(note["params"]) == {"text"} and "CSAT" in note["params"]["text"]

    b24 = CrmServer(FakeBitrix24()).start()
    run_contacts(tmp_path / "b24", b24, bitrix(b24.url() + B24_BASE), 0,
                 [("chat-2", "79161234567", "op-7")], ContactChannel.CHAT)
    assert b24.requests() == []  # Bitrix24's telephony API registers calls only
