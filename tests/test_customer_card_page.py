"""The customer across channels in a real browser (headless Chromium) against a real service
with its real models: yesterday the customer complained in chat that the money was not
returned; today they call. As the call starts, the operator's console shows the card
(«чат вчора, не вирішено: Гроші»), and the first time the call mentions the money, the
complaint is a repeat: the console gets the repeated-complaint prompt at once.
"""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest
from playwright.sync_api import expect

from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import load_client_call
from tests.browser import chromium, open_tab
from tests.conftest import SCRIPTED_AUDIO
from tests.live_server import start_server
from tests.test_pages import Streaming, sign_in, stored

CUSTOMER = "crm-48213"
OPERATOR = "op-card"
CHAT_COMPLAINT = "Мне до сих пор не вернули деньги за заказ, никто не помог."
REPEATED_MONEY = "Знову скарга на гроші або повторне звернення"  # uk: reason.repeated_money


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("card-data"))
    yield live
    live.stop()


def chat_yesterday(server) -> None:
    """The chat of yesterday, through the public API, as a chat platform sends it."""
    yesterday = time.time() - 86400
    body = {"customer_id": CUSTOMER, "operator_id": OPERATOR, "channel": "chat",
            "sender": "customer", "text": CHAT_COMPLAINT, "sent_at": yesterday}
    answer = httpx.post(f"{server.http}/v1/contacts/chat-yesterday/messages", json=body,
                        timeout=30)
    assert answer.status_code == 200, answer.text
    assert "money" in answer.json()["utterance"]["categories"]
    ended = httpx.post(f"{server.http}/v1/contacts/chat-yesterday/end", timeout=30)
    assert ended.status_code == 200, ended.text


def test_a_chat_complaint_then_a_call_the_card_shows_the_chat_and_the_call_escalates_as_a_repeat(
    server,
):
    call = load_client_call(SCRIPTED_AUDIO / "escalating_ru.wav", CustomerChannel.MONO,
                            "call-after-chat", OPERATOR, "ru")
    call = dataclasses.replace(call, customer_id=CUSTOMER)
    with chromium() as browser:
        tab = open_tab(browser, server.http + "/console", "uk-UA")
        page = tab.page
        sign_in(page, operator_id=OPERATOR)  # open mode: no token
        expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10000)

        chat_yesterday(server)  # the chat reaches the console as a call does
        expect(page.locator("#call-title")).to_have_text("Чат chat-yesterday", timeout=10000)
        expect(page.locator("#transcript .line.customer")).to_contain_text("не вернули деньги")
        # a chat: the conversation ended, not a call
        expect(page.locator("#call-clock")).to_have_text("Листування завершено.", timeout=10000)

        streaming = Streaming(call, server.ws, speed=2.0).start()
        card = page.locator("#customer-card")
        expect(card).to_be_visible(timeout=30000)
        assert streaming.running, "the card came only after the call"
        expect(page.locator("#call-title")).to_have_text("Дзвінок call-after-chat")
        contact = card.locator("li.card-contact")
        expect(contact).to_have_count(1)
        expect(contact).to_have_attribute("data-channel", "chat")
        expect(contact).to_contain_text("чат вчора, не вирішено:")
        expect(contact.locator(".chip").first).to_have_text("Гроші")
        expect(card.locator("#card-summary")).to_have_text("Звернень за 30 дн.: 1")
        expect(card.locator("#card-open")).to_contain_text("Відкриті скарги:")
        history = page.locator("#call-history")
        expect(history).to_contain_text("звернень за 7 дн. — 1")
        expect(history.locator(".chip").first).to_be_visible()
        tab.screenshot("console-customer-card")

        prompt = page.locator(".alert-card").last  # newest first: the last is the first
        prompt.wait_for(timeout=90000)
        expect(prompt).to_have_attribute("data-action", "bonus")
        expect(prompt.locator(".reason")).to_have_text(REPEATED_MONEY)
        tab.screenshot("console-repeat-prompt")
        streaming.join(timeout=180)
        tab.assert_no_errors()
        tab.close()

    detail = stored(server, "call-after-chat")
    first = detail["alerts"][0]
    assert first["reason"] == "The same money or repeat-contact complaint came up again"
    money = [u for u in detail["utterances"]
             if u["channel"] == "customer" and "money" in u["categories"]]
    assert money, "the call's money complaint was not recognised"
    # The prompt fired on the call's FIRST money complaint: a repeat only because of the chat.
    assert first["t"] == money[0]["end"]
    assert "money" in first["categories"]
    with httpx.Client(base_url=server.http, timeout=30) as client:
        timeline = client.get(f"/v1/customers/{CUSTOMER}/timeline").json()
    assert [(c["contact_id"], c["channel"]) for c in timeline["contacts"]] == [
        ("call-after-chat", "phone"), ("chat-yesterday", "chat")]


def test_the_wall_and_the_qa_list_say_a_contact_is_a_chat(server) -> None:
    """A supervisor sees on the wall that a live contact is a chat, not a call; QA sees the
    channel of each contact it finds."""
    body = {"customer_id": "crm-wall", "operator_id": "op-wall-chat", "channel": "chat",
            "sender": "customer", "text": "Подскажите, когда придёт курьер?"}
    with chromium() as browser:
        tab = open_tab(browser, server.http + "/supervisor", "uk-UA")
        page = tab.page
        sign_in(page)
        answer = httpx.post(f"{server.http}/v1/contacts/chat-wall/messages", json=body,
                            timeout=30)
        assert answer.status_code == 200, answer.text
        tile = page.locator('.tile[data-call-id="chat-wall"]')
        expect(tile.locator(".badge.channel")).to_have_text("чат", timeout=15000)
        tab.screenshot("supervisor-wall-chat")
        tab.assert_no_errors()
        tab.close()
        assert httpx.post(f"{server.http}/v1/contacts/chat-wall/end", timeout=30).is_success

        tab = open_tab(browser, server.http + "/qa", "uk-UA")
        page = tab.page
        sign_in(page)
        page.fill("input[name=operator_id]", "op-wall-chat")
        page.click("#search [type=submit]")
        row = page.locator('#rows tr[data-call-id="chat-wall"]')
        expect(row.locator("td.channel")).to_have_text("чат")
        row.locator("a").click()
        expect(page.locator("#call-meta")).to_contain_text("чат · op-wall-chat")
        tab.assert_no_errors()
        tab.close()
