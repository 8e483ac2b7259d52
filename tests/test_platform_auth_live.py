"""Platform credentials through the live service on loopback with the real models: a Twilio
call over a signed upgrade (its <Parameter>s stored, a hold and a key press honoured), jambonz
/ mod_audio_fork calls with HTTP Basic, refusals that store nothing, and tokens as before.

The service reads tokens and platform credentials from one config file, as `serve --config`
does. Calls are a few seconds of real audio sent as fast as the socket takes them."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile
import soxr
import websockets
from twilio.request_validator import RequestValidator

from sentiment_svc.live.customer_ids import CustomerIds
from sentiment_svc.protocols.clients import ClientCall, native_session
from tests.conftest import ANGRY_CALL, CALM_CALL
from tests.live_server import LiveServer, start_server
from tests.protocol_sessions import fixture, fork_meta, frames, libsndfile, twilio_session
from tests.test_platform_auth import (
    FS_PASSWORD,
    JAMBONZ_PASSWORD,
    PLATFORMS_YAML,
    PROXY_TOKEN,
    PUBLIC_URL,
    TWILIO_TOKEN,
)

TOKENS = {"ingest": "ingest-token-0123456789", "qa": "qa-token-0123456789abc",
          "op": "operator-token-0123456"}
CONFIG = f"""
tokens:
  - {{role: ingest, token: {TOKENS['ingest']}}}
  - {{role: qa, token: {TOKENS['qa']}}}
  - {{role: operator, operator_id: op-0417, token: {TOKENS['op']}}}
{PLATFORMS_YAML}"""
RATE = 8000
FRAME = 160  # 20 ms
AUDIO_S = 4.0
HOLD_AT_S, HOLD_S = 2.0, 3.0  # Twilio: no media for 3 s, its timestamps run on
DTMF_AT_S = 2.0  # audio_fork: the key press after this much audio
NEAR_S = 0.15


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    from sentiment_svc.web.auth import TokenRegistry
    from sentiment_svc.web.platform_auth import PlatformCredentials

    root = tmp_path_factory.mktemp("platforms")
    config = root / "sentiment.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    data = root / "data"
    live = start_server(data, TokenRegistry.load(config),
                        platforms=PlatformCredentials.load(config))
    yield live, data
    live.stop()


# -- the calls ----------------------------------------------------------------------------
def voices(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Real speech at 8 kHz: the angry customer, and a calm voice for the operator."""
    customer, rate = soundfile.read(ANGRY_CALL, dtype="float32")
    assert rate == RATE
    operator, rate = soundfile.read(CALM_CALL, dtype="float32")
    operator = soxr.resample(operator if operator.ndim == 1 else operator[:, 0], rate, RATE)
    n = int(seconds * RATE)
    return customer[:n], operator[:n].astype(np.float32)


def twilio_messages(call_sid: str, seconds: float = AUDIO_S, hold: bool = False) -> list[dict]:
    """The signed-call fixture with real audio on both tracks; with `hold`, Twilio sends no
    media for `HOLD_S` after `HOLD_AT_S` and its timestamps say so."""
    customer, operator = voices(seconds)
    tracks = [frames(libsndfile(pcm, "ULAW")[0], FRAME) for pcm in (customer, operator)]
    messages = twilio_session(list(zip(*tracks, strict=True)), "twilio/signed_call.json")
    for message in messages:
        for body in ("start", "stop"):
            if body in message:
                message[body]["callSid"] = call_sid
        media = message.get("media")
        if hold and media and int(media["chunk"]) > HOLD_AT_S / 0.02:
            media["timestamp"] = str(int(media["timestamp"]) + int(HOLD_S * 1000))
    return messages


def fork_messages(call_sid: str, seconds: float = AUDIO_S) -> list[Any]:
    """A jambonz stereo `listen` session: metadata, L16 frames, a key press, more frames.
    Ends when the socket closes."""
    customer, operator = voices(seconds)
    stereo = (np.stack([customer, operator], axis=1) * 32767).astype("<i2")
    pcm = [stereo[i:i + FRAME].tobytes() for i in range(0, len(stereo), FRAME)]
    press = int(DTMF_AT_S / 0.02)
    dtmf = fixture("audio_fork/jambonz_stereo.json")["messages"][2]
    return [fork_meta(callSid=call_sid), *pcm[:press], dtmf, *pcm[press:]]


def native_messages(call_id: str) -> list[Any]:
    customer, operator = voices(2.0)
    call = ClientCall(call_id, "op-native", customer, operator, RATE, "ru")
    return [outgoing.message for outgoing in native_session(call)]


async def _play(url: str, headers: dict[str, str], messages: list[Any],
                ends_by_closing: bool) -> tuple[int | None, str | None]:
    async with websockets.connect(url, additional_headers=headers) as socket:
        try:
            for message in messages:
                await socket.send(message if isinstance(message, bytes | str)
                                  else json.dumps(message))
            if ends_by_closing:
                await socket.close()
            async for _ in socket:  # replies (acks, marks) until the service closes
                pass
        except websockets.ConnectionClosed:
            pass
    return socket.close_code, socket.close_reason


def play(live: LiveServer, path: str, messages: list[Any], headers: dict[str, str] | None = None,
         ends_by_closing: bool = False) -> tuple[int | None, str | None]:
    """Send a whole session; the close code and reason the socket ended with."""
    return asyncio.run(_play(live.ws + path, headers or {}, messages, ends_by_closing))


def stored(live: LiveServer, call_id: str, wait_s: float = 120.0) -> dict | None:
    """The call as stored once it ended, or None if there is no such call."""
    headers = {"Authorization": f"Bearer {TOKENS['qa']}"}
    deadline = time.monotonic() + wait_s
    while True:
        reply = httpx.get(f"{live.http}/v1/calls/{call_id}", headers=headers, timeout=30)
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        call = reply.json()
        if call["ended_at"] is not None:
            return call
        assert time.monotonic() < deadline, f"call {call_id} did not end"
        time.sleep(0.2)


def twilio_signature(token: str, url: str) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, {})}


def basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- Twilio -------------------------------------------------------------------------------
def test_a_signed_twilio_call_is_stored_with_its_parameters_hold_and_key_press(service):
    live, data = service
    url = f"wss://127.0.0.1:{live.port}/v1/twilio"  # as Twilio signs it; we connect over ws
    messages = twilio_messages("CA-signed-1", hold=True)
    assert play(live, "/v1/twilio", messages, twilio_signature(TWILIO_TOKEN, url)) == (
        1000, "call ended")
    call = stored(live, "CA-signed-1")
    assert call is not None
    parameters = fixture("twilio/signed_call.json")["messages"][1]["start"]["customParameters"]
    number = parameters["customer_id"]
    assert call["operator_id"] == parameters["operator_id"] == "op-0417"
    # The caller's number is kept only as the keyed hash the service makes of it.
    expected = CustomerIds.for_data_dir(data).key(number)
    assert call["customer_id"] == expected.id and call["customer_id"].startswith("tel-")
    assert call["customer_label"] == "+7 916 *** ** 42"
    assert number not in json.dumps(call)
    assert (call["language"], call["protocol"], call["status"]) == ("uk", "twilio", "completed")
    # The hold keeps its length: the key press after the audio is at audio + hold.
    end = AUDIO_S + HOLD_S
    assert end - NEAR_S <= call["summary"]["duration"] <= end + NEAR_S, call["summary"]
    assert [(d["channel"], d["digits"]) for d in call["dtmf"]] == [("customer", "*")]
    assert end - NEAR_S <= call["dtmf"][0]["t"] <= end + NEAR_S, call["dtmf"]


def test_a_twilio_call_behind_a_proxy_is_checked_against_its_public_url(service):
    live, _ = service
    messages = twilio_messages("CA-proxied-1", seconds=2.0)
    assert play(live, "/v1/twilio", messages, twilio_signature(PROXY_TOKEN, PUBLIC_URL)) == (
        1000, "call ended")
    call = stored(live, "CA-proxied-1")
    assert call is not None and call["status"] == "completed"


@pytest.mark.parametrize("case", ["wrong token", "another url", "missing", "basic", "auth token"])
def test_a_badly_signed_twilio_call_is_refused_and_nothing_is_stored(service, case):
    live, _ = service
    url = f"wss://127.0.0.1:{live.port}/v1/twilio"
    headers = {
        "wrong token": twilio_signature("0" * 31 + "1", url),
        "another url": twilio_signature(TWILIO_TOKEN, f"wss://127.0.0.1:{live.port}/v1/ingest"),
        "missing": {},
        "basic": basic("jambonz", JAMBONZ_PASSWORD),  # audio_fork's credential
        "auth token": bearer(TWILIO_TOKEN),  # a platform secret is no token
    }[case]
    call_id = f"CA-refused-{case.replace(' ', '-')}"
    code, reason = play(live, "/v1/twilio", twilio_messages(call_id, seconds=1.0), headers)
    assert code == 4401, (code, reason)
    assert stored(live, call_id) is None


# -- jambonz / mod_audio_fork -------------------------------------------------------------------
def test_a_jambonz_call_with_basic_auth_is_stored_with_its_key_press(service):
    live, data = service
    messages = fork_messages("fork-basic-1")
    assert play(live, "/v1/audio-fork", messages, basic("jambonz", JAMBONZ_PASSWORD),
                ends_by_closing=True)[0] == 1000
    call = stored(live, "fork-basic-1")
    assert call is not None
    meta = fork_meta()
    assert (call["operator_id"], call["language"], call["protocol"], call["status"]) == (
        meta["operator_id"], "ru", "audio_fork", "completed")
    assert call["customer_id"] == CustomerIds.for_data_dir(data).key(meta["from"]).id
    assert AUDIO_S - NEAR_S <= call["summary"]["duration"] <= AUDIO_S + NEAR_S
    assert [(d["channel"], d["digits"]) for d in call["dtmf"]] == [("customer", "*")]
    assert DTMF_AT_S - NEAR_S <= call["dtmf"][0]["t"] <= DTMF_AT_S + NEAR_S, call["dtmf"]


def test_a_hashed_basic_password_works_too(service):
    live, _ = service
    messages = fork_messages("fork-basic-2", seconds=2.0)
    assert play(live, "/v1/audio-fork", messages, basic("freeswitch", FS_PASSWORD),
                ends_by_closing=True)[0] == 1000
    call = stored(live, "fork-basic-2")
    assert call is not None and call["status"] == "completed"


@pytest.mark.parametrize("case", ["wrong password", "wrong user", "missing", "twilio"])
def test_a_jambonz_call_without_its_credential_is_refused_and_nothing_is_stored(service, case):
    live, _ = service
    headers = {
        "wrong password": basic("jambonz", FS_PASSWORD),
        "wrong user": basic("freeswitch", JAMBONZ_PASSWORD),
        "missing": {},
        # Twilio's credential, even signed for this very route, is not accepted here.
        "twilio": twilio_signature(TWILIO_TOKEN, f"wss://127.0.0.1:{live.port}/v1/audio-fork"),
    }[case]
    call_id = f"fork-refused-{case.replace(' ', '-')}"
    code, reason = play(live, "/v1/audio-fork", fork_messages(call_id, seconds=1.0), headers,
                        ends_by_closing=True)
    assert code == 4401, (code, reason)
    assert stored(live, call_id) is None


# -- tokens, as before --------------------------------------------------------------------------
def test_bearer_tokens_still_work_on_the_platform_routes_and_the_native_one(service):
    live, _ = service
    ingest = bearer(TOKENS["ingest"])
    assert play(live, "/v1/twilio", twilio_messages("CA-bearer-1", seconds=2.0), ingest)[0] == 1000
    assert play(live, "/v1/audio-fork", fork_messages("fork-bearer-1", seconds=2.0), ingest,
                ends_by_closing=True)[0] == 1000
    assert play(live, f"/v1/ingest?token={TOKENS['ingest']}", native_messages("native-1")
                )[0] == 1000
    for call_id in ("CA-bearer-1", "fork-bearer-1", "native-1"):
        call = stored(live, call_id)
        assert call is not None and call["status"] == "completed", call
    # An operator's token is still the wrong role for ingest.
    code, _ = play(live, "/v1/audio-fork", fork_messages("fork-operator", seconds=1.0),
                   bearer(TOKENS["op"]), ends_by_closing=True)
    assert code == 4403 and stored(live, "fork-operator") is None
