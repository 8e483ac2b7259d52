"""Platform credentials (`web.platform_auth`) without the models: the ``platforms:`` config,
Twilio signatures computed with the ``twilio`` package's own validator, Basic credentials,
and the ingest routes' choice of credential over a real uvicorn socket on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
import websockets
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from twilio.request_validator import RequestValidator

from sentiment_svc.cli import main
from sentiment_svc.config import Settings
from sentiment_svc.domain.vocabulary import Protocol
from sentiment_svc.web.app import create_app
from sentiment_svc.web.auth import AuthConfigError, Principal, Role, TokenRegistry
from sentiment_svc.web.platform_auth import (
    PlatformCredentials,
    basic_credentials,
    check_access,
    ingest_principal,
)

TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"  # a Twilio auth token: 32 hex digits
PROXY_TOKEN = "fedcba9876543210fedcba9876543210"
PUBLIC_URL = "wss://calls.example.com/v1/twilio"
JAMBONZ_PASSWORD = "jambonz-listen-secret-42"
FS_PASSWORD = "freeswitch-fork-secret-7"
INGEST_TOKEN = "ingest-token-0123456789"

# The platform credentials of these tests and of test_platform_auth_live's.
PLATFORMS_YAML = f"""platforms:
  twilio:
    - {{name: twilio-main, auth_token: "{TWILIO_TOKEN}"}}
    - {{name: twilio-proxied, auth_token: "{PROXY_TOKEN}", public_url: "{PUBLIC_URL}"}}
  basic:
    - {{name: jambonz-1, username: jambonz, password: "{JAMBONZ_PASSWORD}"}}
    - {{name: fs-2, username: freeswitch,
        password_sha256: "{hashlib.sha256(FS_PASSWORD.encode()).hexdigest()}"}}
"""
CONFIG = f"""
tokens:
  - {{role: ingest, token: {INGEST_TOKEN}, name: native-ingest}}
{PLATFORMS_YAML}"""


def signature(token: str, url: str) -> str:
    """What Twilio sends as X-Twilio-Signature for a stream to `url` (no POST params)."""
    return RequestValidator(token).compute_signature(url, {})


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "sentiment.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def platforms(config_file: Path) -> PlatformCredentials:
    return PlatformCredentials.load(config_file)


# -- the config ---------------------------------------------------------------------------
def test_the_config_file_gives_each_entry_an_ingest_principal(config_file, platforms):
    assert [key.principal for key in platforms.twilio + platforms.basic] == [
        Principal(Role.INGEST, None, name)
        for name in ("twilio-main", "twilio-proxied", "jambonz-1", "fs-2")]
    assert [key.public_url for key in platforms.twilio] == [None, PUBLIC_URL]
    assert len(platforms) == 4
    # The same file's tokens load as before, platforms beside them.
    tokens = TokenRegistry.load(config_file)
    assert tokens.authenticate(INGEST_TOKEN) == Principal(Role.INGEST, None, "native-ingest")
    # No secret in a repr, and no plain password kept.
    shown = repr(platforms.twilio) + repr(platforms.basic)
    assert TWILIO_TOKEN not in shown and JAMBONZ_PASSWORD.encode() not in b"".join(
        key.password for key in platforms.basic)


@pytest.mark.parametrize("text", ["tokens: []\n", "tokens: []\nplatforms:\n", "[]\n"])
def test_no_platforms_is_none(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert len(PlatformCredentials.load(path)) == 0
    assert len(PlatformCredentials.load(None)) == 0


LONG = "a-secret-of-enough-length"


@pytest.mark.parametrize("platforms_yaml,problem", [
    ("{sip: []}", "sip: Extra inputs are not permitted"),
    ("{twilio: [{name: t, auth_token: short}]}", "twilio.0.auth_token"),
    ("{twilio: [{auth_token: " + LONG + "}]}", "twilio.0.name: Field required"),
    ("{twilio: [{name: t, auth_token: " + LONG + ", public_url: 'https://x.example/s'}]}",
     "public_url"),
    ("{twilio: [{name: t, auth_token: " + LONG + ", public_url: 'wss://x.example/s?a=1'}]}",
     "no query string"),
    ("{basic: [{name: b, username: u, password: " + LONG + ", password_sha256: " + "a" * 64
     + "}]}", "exactly one of 'password' and 'password_sha256'"),
    ("{basic: [{name: b, username: u}]}", "exactly one of"),
    ("{basic: [{name: b, username: u, password: short}]}", "at least 16 characters"),
    ("{basic: [{name: b, username: 'u:x', password: " + LONG + "}]}", "basic.0.username"),
    ("{basic: [{name: b, username: u, password_sha256: abc}]}", "password_sha256"),
    ("{twilio: [{name: x, auth_token: " + LONG + "}], basic: [{name: x, username: u, "
     "password: " + LONG + "}]}", "the name 'x' is used twice"),
])
def test_a_bad_platforms_entry_is_named_and_its_secret_never_shown(tmp_path, platforms_yaml,
                                                                   problem):
    path = tmp_path / "c.yaml"
    path.write_text(f"tokens: []\nplatforms: {platforms_yaml}\n")
    with pytest.raises(AuthConfigError) as error:
        PlatformCredentials.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: platforms: ") and problem in message, message
    assert LONG not in message


def test_platform_credentials_without_tokens_are_refused(platforms, tmp_path, config_file):
    with pytest.raises(AuthConfigError, match="no tokens"):
        check_access(TokenRegistry(), platforms)
    with pytest.raises(AuthConfigError, match="no tokens"):
        create_app(Settings(data_dir=tmp_path), TokenRegistry(), platforms)
    check_access(TokenRegistry.load(config_file), platforms)  # tokens too: fine
    check_access(TokenRegistry(), PlatformCredentials())  # open, nothing configured: fine
    # `serve` says so and does not start.
    open_config = tmp_path / "open.yaml"
    open_config.write_text("tokens: []\nplatforms: {basic: [{name: b, username: u, "
                           f"password: {LONG}}}]}}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(open_config),
                                       "--data-dir", str(tmp_path / "data")])
    assert result.exit_code != 0 and "no tokens" in result.output, result.output


# -- Twilio signatures ------------------------------------------------------------------------
LOCAL_URL = "wss://127.0.0.1:8443/v1/twilio"


def test_a_twilio_signature_names_the_account_whose_token_signed_the_url(platforms):
    main_account = Principal(Role.INGEST, None, "twilio-main")
    assert platforms.twilio_principal(signature(TWILIO_TOKEN, LOCAL_URL), LOCAL_URL) == (
        main_account)
    # Twilio signs with or without the default port; the validator accepts either.
    host_url = "wss://calls.example.com/v1/twilio"
    assert platforms.twilio_principal(signature(TWILIO_TOKEN, host_url),
                                      "wss://calls.example.com:443/v1/twilio") == main_account
    assert platforms.twilio_principal(signature(TWILIO_TOKEN, host_url), host_url) == (
        main_account)
    # Another URL, another token, or garbage: nobody.
    assert platforms.twilio_principal(signature(TWILIO_TOKEN, LOCAL_URL + "x"), LOCAL_URL) is None
    assert platforms.twilio_principal(signature("f" * 32, LOCAL_URL), LOCAL_URL) is None
    assert platforms.twilio_principal("bm90IGEgc2lnbmF0dXJl", LOCAL_URL) is None


def test_a_public_url_is_what_that_account_is_checked_against(platforms):
    proxied = Principal(Role.INGEST, None, "twilio-proxied")
    # Behind a proxy the request's own URL differs; the configured one is what Twilio signed.
    assert platforms.twilio_principal(signature(PROXY_TOKEN, PUBLIC_URL), LOCAL_URL) == proxied
    assert platforms.twilio_principal(signature(PROXY_TOKEN, LOCAL_URL), LOCAL_URL) is None


# -- Basic --------------------------------------------------------------------------------------
def test_basic_credentials_are_parsed_as_rfc_7617_says():
    assert basic_credentials(basic("jambonz", "pa:ss")) == ("jambonz", "pa:ss")
    assert basic_credentials("basic " + base64.b64encode("оператор:пароль".encode()).decode()
                             ) == ("оператор", "пароль")
    assert basic_credentials(f"Bearer {INGEST_TOKEN}") is None
    assert basic_credentials(None) is None
    with pytest.raises(ValueError, match="malformed"):
        basic_credentials("Basic not*base64")
    with pytest.raises(ValueError, match="no ':'"):
        basic_credentials("Basic " + base64.b64encode(b"no-colon").decode())


def test_basic_checks_user_and_password_plain_or_hashed(platforms):
    assert platforms.basic_principal("jambonz", JAMBONZ_PASSWORD).name == "jambonz-1"
    assert platforms.basic_principal("freeswitch", FS_PASSWORD).name == "fs-2"
    assert platforms.basic_principal("jambonz", FS_PASSWORD) is None  # another's password
    assert platforms.basic_principal("freeswitch", JAMBONZ_PASSWORD) is None
    assert platforms.basic_principal("jambonz", JAMBONZ_PASSWORD + "x") is None
    assert platforms.basic_principal("", "") is None


# -- the ingest routes, over a real socket --------------------------------------------------
@dataclass
class Routes:
    port: int

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


ROUTES = {"/v1/ingest": Protocol.NATIVE, "/v1/twilio": Protocol.TWILIO,
          "/v1/audio-fork": Protocol.AUDIO_FORK, "/v1/asterisk": Protocol.ASTERISK_WS}


def routes_app(tokens: TokenRegistry, platforms: PlatformCredentials) -> Starlette:
    """The ingest routes' authentication alone: each answers with the principal's name."""

    def endpoint(protocol: Protocol):
        async def whoami(websocket: WebSocket) -> None:
            principal = await ingest_principal(websocket, protocol)
            await websocket.accept()
            await websocket.send_text(principal.name or "")
            await websocket.close()
        return whoami

    app = Starlette(routes=[WebSocketRoute(path, endpoint(protocol))
                            for path, protocol in ROUTES.items()])
    app.state.tokens, app.state.platforms = tokens, platforms
    return app


@pytest.fixture(scope="module")
def routes(config_file, platforms) -> Iterator[Routes]:
    app = routes_app(TokenRegistry.load(config_file), platforms)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Routes(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def _who(url: str, headers: dict[str, str], **connect) -> str | tuple[int, str]:
    async with websockets.connect(url, additional_headers=headers, **connect) as socket_:
        try:
            return str(await asyncio.wait_for(socket_.recv(), 5))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason


def who(url: str, headers: dict[str, str] | None = None, **connect) -> str | tuple[int, str]:
    """The principal's name the route answered, or the (code, reason) it closed with."""
    return asyncio.run(_who(url, headers or {}, **connect))


def test_a_signed_twilio_upgrade_is_checked_against_wss_and_the_host_it_was_sent_to(routes):
    # The service sees ws:// (TLS ends before it); Twilio signed the wss:// URL.
    url = f"wss://127.0.0.1:{routes.port}/v1/twilio"
    assert who(routes.url("/v1/twilio"), {"X-Twilio-Signature": signature(TWILIO_TOKEN, url)}
               ) == "twilio-main"
    # Behind a proxy that keeps the Host header: the host Twilio connected to.
    proxied = "wss://media.example.org/v1/twilio"
    assert who("ws://media.example.org/v1/twilio",
               {"X-Twilio-Signature": signature(TWILIO_TOKEN, proxied)},
               host="127.0.0.1", port=routes.port) == "twilio-main"
    # One that rewrites it: the credential's public_url.
    assert who(routes.url("/v1/twilio"), {"X-Twilio-Signature": signature(PROXY_TOKEN,
                                                                          PUBLIC_URL)}
               ) == "twilio-proxied"


def test_refusals_close_4401_with_the_reason_logged_and_no_secret(routes, caplog):
    port = routes.port
    good = signature(TWILIO_TOKEN, f"wss://127.0.0.1:{port}/v1/twilio")
    cases = [
        ("/v1/twilio", {"X-Twilio-Signature": signature("f" * 32,
                                                        f"wss://127.0.0.1:{port}/v1/twilio")}),
        ("/v1/twilio", {"X-Twilio-Signature": signature(TWILIO_TOKEN,
                                                        f"wss://127.0.0.1:{port}/v1/other")}),
        ("/v1/twilio", {}),  # no signature and no token
        ("/v1/twilio", {"Authorization": basic("jambonz", JAMBONZ_PASSWORD)}),
        ("/v1/twilio", {"Authorization": f"Bearer {TWILIO_TOKEN}"}),
        ("/v1/audio-fork", {"Authorization": basic("jambonz", FS_PASSWORD)}),
        ("/v1/audio-fork", {"Authorization": basic("nobody", JAMBONZ_PASSWORD)}),
        ("/v1/audio-fork", {"Authorization": "Basic %%%"}),
        ("/v1/audio-fork", {}),
        ("/v1/audio-fork", {"X-Twilio-Signature": good}),
        ("/v1/ingest", {"Authorization": basic("jambonz", JAMBONZ_PASSWORD)}),
        ("/v1/ingest", {"X-Twilio-Signature": good}),
    ]
    with caplog.at_level(logging.WARNING, logger="sentiment_svc.web.platform_auth"):
        outcomes = [who(routes.url(path), headers) for path, headers in cases]
    assert [code for code, _ in outcomes] == [4401] * len(cases), outcomes
    reasons = [reason for _, reason in outcomes]
    assert "matches no twilio credential" in reasons[0] and "matches no twilio" in reasons[1]
    assert reasons[2] == reasons[3] == reasons[8] == "a token is required"
    assert reasons[4] == "unknown token"
    assert "match no basic credential" in reasons[5] and "match no basic" in reasons[6]
    assert "malformed" in reasons[7]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged.count("refused") == 5, logged  # the platform credentials' refusals
    for secret in (TWILIO_TOKEN, JAMBONZ_PASSWORD, FS_PASSWORD, good, "nobody"):
        assert secret not in logged


def test_tokens_still_work_on_every_ingest_route(routes):
    for path in ROUTES:
        assert who(routes.url(path), {"Authorization": f"Bearer {INGEST_TOKEN}"}
                   ) == "native-ingest"
        assert who(routes.url(f"{path}?token={INGEST_TOKEN}")) == "native-ingest"


def test_basic_on_audio_fork(routes):
    assert who(routes.url("/v1/audio-fork"), {"Authorization": basic("jambonz",
                                                                     JAMBONZ_PASSWORD)}
               ) == "jambonz-1"
    assert who(routes.url("/v1/audio-fork"), {"Authorization": basic("freeswitch", FS_PASSWORD)}
               ) == "fs-2"


def test_basic_on_asterisk_chan_websocket(routes):
    """websocket_client.conf's username/password reach /v1/asterisk as Basic."""
    assert who(routes.url("/v1/asterisk?call_id=c-1&speaker=customer"),
               {"Authorization": basic("freeswitch", FS_PASSWORD)}) == "fs-2"
    code, _ = who(routes.url("/v1/asterisk"), {"Authorization": basic("freeswitch", "wrong")})
    assert code == 4401
