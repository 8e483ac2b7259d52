"""The web consoles in a real browser (headless Chromium through Playwright) against a real
service on loopback, while real recorded calls stream through it.

Screenshots at 1366x768 go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from playwright.sync_api import expect

from sentiment_svc.client import stream_call
from sentiment_svc.protocols.clients import ClientCall
from tests.browser import chromium, open_tab
from tests.live_server import TOKENS, secured_registry, start_server
from tests.test_live import NEGATIVE_ACTIONS, angry_call

STATIC = Path(__file__).resolve().parents[1] / "sentiment_svc" / "web" / "static"
ACTIONS = {
    "ru": {"apology": "Извинитесь", "bonus": "Предложите бонус",
           "supervisor": "Позовите руководителя"},
    "uk": {"apology": "Вибачтеся", "bonus": "Запропонуйте бонус",
           "supervisor": "Покличте керівника"},
}
# literal keys in the modules
KEY_PREFIXES = "nav|lang|signin|conn|console|card|wall|qa|ack|unit|cx"
HTTP_ERRORS = ("Failed to load resource",)  # a 401/403 answer, expected in sign-in tests


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("pages-data"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


class Streaming:
    """`stream_call` in a background thread; records what the operator feed delivered."""

    def __init__(self, call, url: str, speed: float = 1.0, token: str | None = None) -> None:
        self.call, self.url, self.speed, self.token = call, url, speed, token
        self.events: list[tuple[float, dict]] = []
        self.result = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = asyncio.run(stream_call(
                self.call, self.url, "native", token=self.token, speed=self.speed,
                on_event=self._on_event,
            ))
        except BaseException as error:  # reported by join()
            self.error = error

    def _on_event(self, source: str, event: dict) -> None:
        if source == "feed":
            self.events.append((time.monotonic(), event))

    def start(self) -> Streaming:
        self.thread.start()
        return self

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def saw(self, kind: str) -> bool:
        return any(event["type"] == kind for _, event in list(self.events))

    def join(self, timeout: float = 120):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the call did not finish streaming"
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def audio_seconds(self) -> float:
        return len(self.call.customer) / self.call.sample_rate


def wait_until(page, condition, timeout: float, what: str) -> None:
    """Poll `condition` while letting the page run (its route handlers need the loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


def wait_for_js(page, expression: str, timeout: float, what: str) -> None:
    """Poll a JavaScript expression (page.wait_for_function would need 'unsafe-eval', which
    the pages' CSP rightly refuses)."""
    wait_until(page, lambda: page.evaluate(f"() => Boolean({expression})"), timeout, what)


def sign_in(page, token: str = "", operator_id: str | None = None) -> None:
    if operator_id is not None:
        page.fill("#operator-id", operator_id)
    page.fill("#token", token)
    page.click("#signin [type=submit]")


def stored(server, call_id: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{server.http}/v1/calls/{call_id}", headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


# -- the pages themselves ---------------------------------------------------------------------
def test_pages_are_served_with_a_strict_content_security_policy(server):
    root = httpx.get(server.http + "/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/console"
    for path in ("/console", "/supervisor", "/qa", "/qa/analytics"):
        page = httpx.get(server.http + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "media-src 'self' blob:" in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline scripts"
        assert not re.search(r"\s(style|on[a-z]+)\s*=", page.text), "no inline styles, handlers"
    script = httpx.get(server.http + "/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for escape in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/nope.js",
                   "/static/ui%00.js"):
        assert httpx.get(server.http + escape).status_code == 404


def test_every_string_exists_in_all_three_languages(server, browser):
    tab = open_tab(browser, server.http + "/console", "uk-UA")
    page = tab.page
    keys = page.evaluate(
        """async () => {
            const { strings } = await import('/static/i18n.js');
            return Object.fromEntries(Object.entries(strings).map(([l, s]) => [l, Object.keys(s)]));
        }"""
    )
    assert set(keys) == {"ru", "uk", "en"}
    assert set(keys["ru"]) == set(keys["uk"]) == set(keys["en"])
    used: set[str] = set()
    for path in STATIC.glob("*.html"):
        markup = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n(?:-label|-placeholder|-title)?="([^"]+)"', markup))
    for path in STATIC.glob("*.js"):
        used |= set(re.findall(rf'"((?:{KEY_PREFIXES})\.[a-z_.]+)"', path.read_text("utf-8")))
    assert used and not used - set(keys["en"]), f"missing strings: {used - set(keys['en'])}"
    # The default comes from navigator.language; the switch changes it and is remembered.
    expect(page.locator("#signin [type=submit]")).to_have_text("Увійти")
    page.select_option("#lang", "en")
    expect(page.locator("#signin [type=submit]")).to_have_text("Sign in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.locator("#signin [type=submit]")).to_have_text("Sign in")
    page.select_option("#lang", "ru")
    expect(page.locator("#signin label").first).to_contain_text("ID оператора")
    tab.assert_no_errors()
    tab.close()


# -- operator console -------------------------------------------------------------------------
def test_console_shows_the_alert_while_the_call_streams_and_acknowledges_it(server, browser):
    tab = open_tab(browser, server.http + "/console", "ru-RU")
    page = tab.page
    tab.screenshot("console-signin")
    sign_in(page, operator_id="op-console")  # open mode: no token
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10000)

    streaming = Streaming(angry_call("console-call", "op-console"), server.ws).start()
    card = page.locator(".alert-card").first
    card.wait_for(timeout=40000)
    seen_at = time.monotonic()
    assert streaming.running, "the alert card appeared only after the call had finished"
    action = card.get_attribute("data-action")
    assert action in NEGATIVE_ACTIONS
    expect(card.locator(".action")).to_have_text(ACTIONS["ru"][action])
    expect(card.locator(".badge.sev")).to_have_text(re.compile("Внимание|Критично"))
    expect(card.locator("blockquote").first).not_to_be_empty()
    expect(card.locator("button[data-outcome]")).to_have_count(4)
    expect(page.locator("#announcer")).to_contain_text(ACTIONS["ru"][action])
    line = page.locator("#transcript .line.customer:not(.partial)").first
    expect(line.locator(".who")).to_have_text("Клиент")
    expect(line.locator("p")).not_to_be_empty()
    expect(page.locator("#call-title")).to_have_text("Звонок console-call")
    expect(page.locator("#mood-value")).to_have_text(re.compile(r"^−0\.\d\d|^−1\.00"))
    tab.screenshot("console-alert")

    card.locator("button[data-outcome=apologised]").click()
    expect(card).to_have_class(re.compile(r"\backed\b"))
    expect(card.locator(".ack-state")).to_have_text("Отмечено: извинение")

    result = streaming.join()
    # Against the stream's own clock: the card was on screen before the call's audio ended.
    assert seen_at - result.first_sent_at < streaming.audio_seconds
    alert_id = card.get_attribute("data-alert-id")
    acks = next(a for a in stored(server, "console-call")["alerts"] if a["alert_id"] == alert_id)
    assert [ack["outcome"] for ack in acks["acks"]] == ["apologised"]
    expect(page.locator("#call-clock")).to_have_text("Звонок завершён.", timeout=15000)
    expect(page.locator("#transcript .line.partial")).to_have_count(0)
    tab.screenshot("console-acked")
    tab.assert_no_errors()
    tab.close()


def test_console_reconnects_and_merges_what_it_missed(server, browser):
    sockets: list = []
    blocked = {"now": False}

    def route(socket) -> None:
        if blocked["now"]:
            socket.close(code=1012, reason="network down")
            return
        sockets.append((socket, socket.connect_to_server()))

    def setup(page) -> None:
        page.route_web_socket(lambda url: "/feed" in url, route)
        page.route(lambda url: "/v1/calls/" in url,
                   lambda request: request.abort() if blocked["now"] else request.continue_())

    tab = open_tab(browser, server.http + "/console", "en-US", setup=setup)
    page = tab.page
    sign_in(page, operator_id="op-drop")
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10000)
    streaming = Streaming(angry_call("drop-call", "op-drop"), server.ws).start()
    expect(page.locator("#call-title")).to_have_text("Call drop-call", timeout=10000)

    blocked["now"] = True  # the network drops (feed and REST), and stays down until the alert
    for page_side, server_side in sockets:
        server_side.close()
        page_side.close(code=1012, reason="network down")
    expect(page.locator("#conn")).to_have_attribute("data-state", re.compile("retry|connecting"))
    wait_until(page, lambda: streaming.saw("alert"), 40, "the alert on the stream's own feed")
    expect(page.locator(".alert-card")).to_have_count(0)  # it was missed ...
    blocked["now"] = False

    card = page.locator(".alert-card").first  # ... and merged from GET /v1/calls/{id}
    card.wait_for(timeout=30000)
    expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    streaming.join()
    detail = stored(server, "drop-call")
    expect(page.locator(".alert-card")).to_have_count(len(detail["alerts"]))
    expect(page.locator("#transcript .line:not(.partial)")).to_have_count(
        len(detail["utterances"]), timeout=15000)
    expect(page.locator("#call-clock")).to_have_text("The call has ended.", timeout=15000)
    tab.screenshot("console-reconnected")

    # Keyboard only: the suggested action's button is focusable, visibly, and Enter acks.
    primary = card.locator(".ack-buttons button.primary")
    card.locator(".ack-buttons button").last.focus()
    page.keyboard.press("Shift+Tab")
    while not primary.evaluate("b => b === document.activeElement"):
        page.keyboard.press("Shift+Tab")
    style, width = primary.evaluate(
        "b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]")
    assert style == "solid" and width != "0px", "a visible focus ring"
    page.keyboard.press("Enter")
    expect(card).to_have_class(re.compile(r"\backed\b"))
    alert = stored(server, "drop-call")["alerts"][0]
    assert alert["acks"] and alert["acks"][0]["outcome"] in {
        "apologised", "offered_bonus", "called_supervisor"}
    tab.assert_no_errors(allowed=HTTP_ERRORS)  # the REST calls refused while "offline"
    tab.close()


def test_console_renders_feed_events_flashes_and_beeps_for_a_critical_alert(server, browser):
    """The console against a scripted feed (Playwright answers the websocket), for what the
    sample call does not produce: a critical alert, a speech acknowledgement, duplicates."""
    feeds: list = []
    sent: list[dict] = []

    def route(socket) -> None:
        socket.on_message(lambda message: sent.append(json.loads(message)))
        feeds.append(socket)

    def setup(page) -> None:
        page.add_init_script("""
            window.__oscillators = 0;
            const create = AudioContext.prototype.createOscillator;
            AudioContext.prototype.createOscillator = function () {
                window.__oscillators += 1;
                return create.call(this);
            };""")
        page.route_web_socket(lambda url: "/feed" in url, route)

    tab = open_tab(browser, server.http + "/console", "uk-UA", setup=setup)
    page = tab.page
    sign_in(page, operator_id="op-mock")
    wait_until(page, lambda: feeds, 10, "the feed socket")
    feed = feeds[0]

    def send(**message) -> None:
        feed.send(json.dumps({"call_id": "mock-call", "operator_id": "op-mock", **message}))

    send(type="call_started", level="calm", score=0, duration=0, started_at=time.time())
    send(type="partial", channel="customer", start=0.5, end=3.5, lang="ru", text="Я хочу")
    partial = page.locator("#transcript .line.partial")
    expect(partial).to_have_text(re.compile("Я хочу…"))
    utterance = {"type": "utterance", "channel": "customer", "start": 0.5, "end": 4.2,
                 "lang": "ru", "text": "Я хочу поговорить с руководителем!", "seq": 0,
                 "sentiment": {"neg": 0.9, "neu": 0.05, "pos": 0.05},
                 "categories": ["escalation_request"], "loudness_db": 6.0}
    send(**utterance)
    send(**utterance)  # a duplicate (as after a reconnection) shows once
    send(type="utterance", channel="operator", start=4.5, end=6.0, lang="ru",
         text="Одну минуту.", seq=1, sentiment={"neg": 0.1, "neu": 0.8, "pos": 0.1},
         categories=[], loudness_db=0.0)
    expect(partial).to_have_count(0)
    expect(page.locator("#transcript .line")).to_have_count(2)
    expect(page.locator("#transcript .line.operator .who")).to_have_text("Оператор")
    expect(page.locator("#transcript .line.customer .chip")).to_have_text("Просить керівника")

    alert = {"type": "alert", "alert_id": "a-critical", "t": 4.2, "action": "supervisor",
             "severity": "critical", "evidence": ["Я хочу поговорить с руководителем!"],
             "reason": "The customer asks for a supervisor or threatens legal action"}
    send(**alert)
    send(**alert)
    card = page.locator('.alert-card[data-alert-id="a-critical"]')
    expect(card.locator(".action")).to_have_text("Покличте керівника")
    expect(card.locator(".badge.sev")).to_have_text("Критично")
    expect(card.locator(".reason")).to_have_text("Клієнт просить керівника або погрожує судом")
    expect(page.locator(".alert-card")).to_have_count(1)
    expect(page.locator("body")).to_have_class(re.compile(r"\bflash\b"))
    wait_for_js(page, "window.__oscillators >= 2", 5, "the alarm beep")
    expect(page.locator("#announcer")).to_contain_text("Покличте керівника")
    send(type="call_state", level="critical", score=6.1, duration=7.0, sentiment_trend=[-0.85])
    expect(page.locator("#mood-level")).to_have_text("Критично")
    tab.screenshot("console-critical")

    card.locator("button.primary").click()  # the suggested one: "called supervisor"
    wait_until(page, lambda: sent, 5, "the ack message")
    assert sent == [{"type": "ack", "call_id": "mock-call", "alert_id": "a-critical",
                     "outcome": "called_supervisor"}]
    expect(card.locator("button[data-outcome]").first).to_be_disabled()
    send(type="alert_acked", alert_id="a-critical", outcome="called_supervisor")
    expect(card.locator(".ack-state")).to_have_text("Позначено: викликано керівника")

    send(type="alert", alert_id="a-apology", t=8.0, action="apology", severity="warning",
         evidence=["…"], reason="A reason this version has no translation for")
    second = page.locator('.alert-card[data-alert-id="a-apology"]')
    expect(second.locator(".reason")).to_have_text("A reason this version has no translation for")
    expect(page.locator(".alert-card").first).to_have_attribute("data-alert-id", "a-apology")
    send(type="alert_acked", alert_id="a-apology", outcome="apologised", source="speech")
    expect(second.locator(".ack-state")).to_have_text("Прозвучало в розмові: вибачення")
    page.select_option("#lang", "en")  # everything on screen follows a language switch
    expect(second.locator(".ack-state")).to_have_text("Heard in the conversation: apologised")
    expect(card.locator(".action")).to_have_text("Call the supervisor")
    expect(page.locator("#mood-level")).to_have_text("Critical")
    send(type="call_ended", status="completed", level="critical", duration=9.0)
    expect(page.locator("#call-clock")).to_have_text("The call has ended.")
    tab.assert_no_errors()
    tab.close()


# -- supervisor wall --------------------------------------------------------------------------
def test_wall_shows_live_calls_riskiest_first_and_opens_a_transcript(server, browser):
    tab = open_tab(browser, server.http + "/supervisor", "uk-UA")
    page = tab.page
    sign_in(page)
    expect(page.locator("#wall-empty")).to_be_visible()
    # A second call that stays calm (a customer on hold: silence, so it costs the recogniser
    # nothing and the angry call's timing is not at the mercy of a 2-core CI machine).
    quiet = ClientCall("wall-quiet", "op-quiet", np.zeros(18 * 8000, dtype=np.float32), None, 8000)
    calm_stream = Streaming(quiet, server.ws).start()
    angry_stream = Streaming(angry_call("wall-angry", "op-angry"), server.ws).start()

    angry = page.locator('.tile[data-call-id="wall-angry"]')
    angry.wait_for(timeout=15000)
    assert angry_stream.running
    expect(angry.locator(".op")).to_have_text("op-angry")
    first = angry.locator(".dur").inner_text()
    expect(angry.locator(".dur")).not_to_have_text(first, timeout=4000)  # the clock ticks

    # Once the customer blows up, the call has a prompt and leads the wall.
    expect(angry.locator(".last strong")).to_have_text(
        re.compile("|".join(ACTIONS["uk"].values())), timeout=40000)
    prompt_at = time.monotonic()
    expect(angry.locator(".badge.level")).to_have_text(re.compile("Конфлікт|Критично|Напружено"))
    expect(angry.locator("svg.sparkline polyline, svg.sparkline circle").first).to_be_attached()
    expect(page.locator(".tile").first).to_have_attribute("data-call-id", "wall-angry")
    if calm_stream.running:
        expect(page.locator('.tile[data-call-id="wall-quiet"]')).to_be_visible()
    tab.screenshot("supervisor-wall")

    angry.focus()  # keyboard: Enter opens the live transcript
    page.keyboard.press("Enter")
    expect(page.locator("#watch")).to_be_visible()
    expect(angry).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#watch-transcript .line.customer").first).to_be_visible(timeout=20000)
    tab.screenshot("supervisor-watch")

    result = angry_stream.join()
    assert prompt_at - result.first_sent_at < angry_stream.audio_seconds, (
        "the prompt reached the wall only after the call ended")
    expect(angry).to_have_class(re.compile(r"\bended\b"), timeout=15000)
    calm_stream.join()
    page.click("#watch-close")
    expect(page.locator("#watch")).to_be_hidden()
    expect(angry).to_be_focused()
    tab.assert_no_errors()
    tab.close()


# -- QA ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded_call(server):
    """A stored angry call whose first alert the operator acknowledged."""
    Streaming(angry_call("qa-call", "op-qa"), server.ws, speed=4.0).start().join()
    detail = stored(server, "qa-call")
    assert detail["alerts"] and detail["recording"]

    async def acknowledge() -> None:
        async with websockets.connect(f"{server.ws}/v1/operators/op-qa/feed") as feed:
            alert_id = detail["alerts"][0]["alert_id"]
            await feed.send(json.dumps({"type": "ack", "call_id": "qa-call", "alert_id": alert_id,
                                        "outcome": "apologised"}))
            while json.loads(await asyncio.wait_for(feed.recv(), 10))["type"] != "alert_acked":
                pass

    # Playwright's sync API owns this thread's event loop: run the client in another thread.
    worker = threading.Thread(target=lambda: asyncio.run(acknowledge()))
    worker.start()
    worker.join(30)
    return stored(server, "qa-call")


def test_qa_finds_plays_seeks_exports_and_replays_a_call(server, browser, recorded_call):
    tab = open_tab(browser, server.http + "/qa", "en-US")
    page = tab.page
    sign_in(page)
    word = next(w for w in re.findall(r"\w{4,}", recorded_call["utterances"][0]["text"]))
    page.fill("input[name=operator_id]", "op-qa")
    page.select_option("select[name=has_alert]", "true")
    page.fill("input[name=q]", word)
    page.click("#search [type=submit]")
    row = page.locator('#rows tr[data-call-id="qa-call"]')
    expect(row).to_have_count(1)
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row).to_contain_text("op-qa")
    tab.screenshot("qa-search")

    row.locator("a").click()
    expect(page.locator("#call-title")).to_have_text("Call qa-call")
    alerts = recorded_call["alerts"]
    expect(page.locator("#curve .marker")).to_have_count(len(alerts))
    expect(page.locator("#curve .dot")).to_have_count(
        sum(u["channel"] == "customer" for u in recorded_call["utterances"]))
    expect(page.locator(".ack-item .outcome").first).to_have_text(re.compile("apologised"))
    expect(page.locator(".ack-item .tta").first).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
    wait_for_js(page, "document.getElementById('player').readyState >= 2", 15, "the recording")

    player = page.locator("#player")
    first = recorded_call["utterances"][0]
    page.locator("#qa-transcript .line").first.click()  # plays from that utterance
    wait_for_js(page, f"document.getElementById('player').currentTime > {first['start'] + 0.7}",
                10, "the recording to play")
    expect(page.locator("#qa-transcript .line.playing")).to_have_count(1)

    alert = alerts[0]
    page.locator("#curve .marker").first.click()
    target = max(0.0, alert["t"] - 2)
    now = player.evaluate("a => a.currentTime")
    assert target - 0.05 <= now <= target + 1.5, (now, target)
    wait_for_js(page, f"document.getElementById('player').currentTime > {target + 0.3}", 10,
                "the recording to play on from the marker")
    tab.screenshot("qa-call")

    with page.expect_download() as csv_download:
        page.click("#export-csv")
    assert csv_download.value.suggested_filename == "qa-call.csv"
    assert first["text"][:20] in Path(csv_download.value.path()).read_text(encoding="utf-8")
    with page.expect_download() as json_download:
        page.click("#export-json")
    exported = json.loads(Path(json_download.value.path()).read_text(encoding="utf-8"))
    assert exported["call_id"] == "qa-call" and len(exported["alerts"]) == len(alerts)

    page.select_option("#speed", "8")
    page.click("#replay-start")
    expect(page.locator("#replay-events li.replay_started")).to_have_count(1, timeout=10000)
    expect(page.locator("#replay-events li.alert").first).to_be_visible(timeout=40000)
    expect(page.locator("#replay-events li.replay_ended")).to_have_count(1, timeout=40000)
    expect(page.locator("#replay-status")).to_have_text("Replay finished.")
    tab.screenshot("qa-replay")

    page.click("#back")
    expect(page.locator("#search-view")).to_be_visible()
    tab.assert_no_errors()
    tab.close()


# -- sign-in with tokens ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    registry = secured_registry()
    live = start_server(tmp_path_factory.mktemp("pages-secured"), registry)
    yield live
    live.stop()


def test_sign_in_with_tokens(secured, browser):
    tab = open_tab(browser, secured.http + "/console", "en-US")
    page = tab.page
    error = page.locator("#signin-error")
    sign_in(page, "not-a-real-token-at-all", operator_id="op-1")
    expect(error).to_have_text("Unknown token. Check it and sign in again.", timeout=10000)
    expect(page.locator("#signin")).to_be_visible()
    sign_in(page, TOKENS["op2"], operator_id="op-1")  # another operator's token
    expect(error).to_have_text("This token may not open this console.", timeout=10000)
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    sign_in(page, TOKENS["op1"], operator_id="op-1")
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10000)
    # The socket was opened with a single-use ticket: the token never travels in a URL.
    assert sockets and all("ticket=" in url and TOKENS["op1"] not in url for url in sockets)
    page.reload()  # the session survives a reload (sessionStorage) ...
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10000)
    expect(page.locator("#app")).to_be_visible()
    page.click("#signout")  # ... and not a sign-out
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    tab.close()

    tab = open_tab(browser, secured.http + "/supervisor", "en-US")
    sign_in(tab.page, TOKENS["op1"])
    expect(tab.page.locator("#signin-error")).to_have_text("This token may not open this console.")
    sign_in(tab.page, TOKENS["supervisor"])
    expect(tab.page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10000)
    tab.screenshot("supervisor-empty")
    tab.close()

    tab = open_tab(browser, secured.http + "/qa", "ru-RU")
    sign_in(tab.page, TOKENS["ingest"])
    expect(tab.page.locator("#signin-error")).to_have_text(
        "С этим токеном эту консоль открыть нельзя.")
    sign_in(tab.page, TOKENS["qa"])
    expect(tab.page.locator("#found")).to_have_text("Ничего не найдено.")
    tab.assert_no_errors(allowed=HTTP_ERRORS)
    tab.close()
