"""AudioHook credentials: the signature verifier (sans-I/O) and the ``platforms.audiohook``
loader. Signatures here are made by hand from RFC 9421's signature-base rules (section 2.5)
with `hmac`, or taken from Genesys' own signed example, never with the code under test.
Also the reader of the reference client's log that the conformance tests rely on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path

import pytest

from sentiment_svc.protocols.http_signatures import (
    NonceMemory,
    Outcome,
    SignaturePolicy,
    SignedRequest,
    verify_request,
)
from sentiment_svc.web.audiohook_auth import POLICY, AudioHookCredentials, guarded
from sentiment_svc.web.auth import AuthConfigError, Role, TokenRegistry
from tools import audiohook_reference as reference

# The signed upgrade in the AudioHook protocol walkthrough ("Establishing connection"), with
# its session and correlation ids the right way round (developer forum, thread 18703).
DOC_SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="
DOC_KEY = "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"
DOC_CREATED = 1641013200
DOC_HEADERS = (
    ("Host", "audiohook.example.com"),
    ("Audiohook-Organization-Id", "d7934305-0972-4844-938e-9060eef73d05"),
    ("Audiohook-Correlation-Id", "e160e428-53e2-487c-977d-96989bf5c99d"),
    ("Audiohook-Session-Id", "30b0e395-84d3-4570-ac13-9a62d8f514c0"),
    ("X-API-KEY", DOC_KEY),
    ("Signature", "sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:"),
    ("Signature-Input", 'sig1=("@request-target" "@authority" "audiohook-organization-id" '
     '"audiohook-session-id" "audiohook-correlation-id" "x-api-key");'
     f'keyid="{DOC_KEY}";nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";'
     f"created={DOC_CREATED};expires=3282026430"),
)
DOC_REQUEST = SignedRequest("GET", "/api/v1/voicebiometrics/ws", "audiohook.example.com",
                            DOC_HEADERS, "https")

NOW = 1_800_000_000
KEY = "genesys-api-key-0123456789"
SECRET = secrets.token_bytes(32)
HOST = "127.0.0.1:8000"
TARGET = "/v1/audiohook"
COVERED = ("@request-target", "@authority", "audiohook-organization-id",
           "audiohook-session-id", "audiohook-correlation-id", "x-api-key")
IDS = {"audiohook-organization-id": "d7934305-0972-4844-938e-9060eef73d05",
       "audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
       "audiohook-correlation-id": "e160e428-53e2-487c-977d-96989bf5c99d"}


def signed(*, secret: bytes = SECRET, keyid: str = KEY, api_key: str | None = KEY,
           created: int = NOW - 1, expires: int | None = NOW + 29, nonce: str | None = None,
           alg: str | None = "hmac-sha256", covered: tuple[str, ...] = COVERED,
           target: str = TARGET, tamper: dict[str, str] | None = None) -> SignedRequest:
    """An upgrade request signed as RFC 9421 section 2.5 says, by hand."""
    headers = {"host": HOST, **IDS}
    if api_key is not None:
        headers["x-api-key"] = api_key
    derived = {"@request-target": target, "@authority": HOST}
    lines = [f'"{name}": {derived.get(name, headers.get(name))}' for name in covered]
    nonce = secrets.token_urlsafe(18) if nonce is None else nonce
    params = f';keyid="{keyid}"' + (f';nonce="{nonce}"' if nonce else "")
    params += (f';alg="{alg}"' if alg else "") + f";created={created}"
    params += f";expires={expires}" if expires is not None else ""
    inner = "(" + " ".join(f'"{name}"' for name in covered) + ")" + params
    lines.append(f'"@signature-params": {inner}')
    mac = hmac.new(secret, "\n".join(lines).encode(), hashlib.sha256).digest()
    headers.update(tamper or {})
    headers["signature-input"] = f"sig1={inner}"
    headers["signature"] = f"sig1=:{base64.b64encode(mac).decode()}:"
    return SignedRequest("GET", target, HOST, tuple(headers.items()))


def verify(request: SignedRequest, now: float = NOW, nonces: NonceMemory | None = None,
           secret: bytes = SECRET, policy: SignaturePolicy = POLICY):
    return verify_request(request, lambda keyid: secret if keyid == KEY else None, policy,
                          now, nonces if nonces is not None else NonceMemory())


def test_genesys_documented_example_verifies_once():
    nonces = NonceMemory()
    secret = base64.b64decode(DOC_SECRET)
    first = verify_request(DOC_REQUEST, lambda keyid: secret, POLICY, DOC_CREATED + 5, nonces)
    assert first.ok and first.keyid == DOC_KEY
    again = verify_request(DOC_REQUEST, lambda keyid: secret, POLICY, DOC_CREATED + 6, nonces)
    assert again.outcome is Outcome.REPLAYED
    wrong = verify_request(DOC_REQUEST, lambda keyid: b"another secret", POLICY,
                           DOC_CREATED + 5, NonceMemory())
    assert wrong.outcome is Outcome.FAILED


def test_a_hand_signed_request_verifies_and_its_replay_is_refused():
    nonces = NonceMemory()
    request = signed()
    assert verify(request, nonces=nonces).ok
    assert verify(request, NOW + 10, nonces).outcome is Outcome.REPLAYED
    assert len(nonces) == 1
    # Once the signature could no longer pass, its nonce is forgotten: it is stale instead.
    assert verify(request, NOW + 60, nonces).outcome is Outcome.EXPIRED
    assert verify(signed(created=NOW + 59, expires=NOW + 89), NOW + 60, nonces).ok
    assert len(nonces) == 1  # the first one's nonce was let go


@pytest.mark.parametrize("changes,outcome", [
    ({"secret": b"not the client secret"}, Outcome.FAILED),
    ({"tamper": {"audiohook-session-id": "5b0c2a8e-0000-4000-8000-000000000000"}},
     Outcome.FAILED),
    ({"tamper": {"x-api-key": "genesys-api-key-other-0000"}}, Outcome.FAILED),
    ({"covered": COVERED[:-1]}, Outcome.INVALID),  # x-api-key not signed
    ({"covered": ("@authority",) + COVERED[2:]}, Outcome.INVALID),  # no @request-target
    ({"created": NOW + 60}, Outcome.EXPIRED),  # created in the future
    ({"created": NOW - 40, "expires": NOW - 10}, Outcome.EXPIRED),
    ({"created": NOW - 60, "expires": NOW + 600}, Outcome.EXPIRED),  # older than 30 s
    ({"nonce": ""}, Outcome.INVALID),
    ({"nonce": "short-nonce"}, Outcome.INVALID),
    ({"alg": "rsa-pss-sha512"}, Outcome.INVALID),
])
def test_refusals(changes, outcome):
    result = verify(signed(**changes))
    assert result.outcome is outcome, result
    assert not result.ok
    for secret in (SECRET, base64.b64encode(SECRET)):
        assert secret.decode("latin-1") not in result.reason


@pytest.mark.parametrize("changes", [
    {"created": NOW + 3},  # within the clock skew
    {"expires": None},  # expires is optional; created + 30 s still bounds it
    {"alg": None},  # alg is optional
    {"target": "/v1/audiohook?org=acme&x=%20y"},  # the target as sent, query included
])
def test_what_passes(changes):
    assert verify(signed(**changes)).ok


def test_unsigned_and_malformed_requests():
    bare = SignedRequest("GET", TARGET, HOST, (("host", HOST), ("x-api-key", KEY)))
    assert verify(bare).outcome is Outcome.UNSIGNED
    good = dict(signed().headers)
    for field, value in [("signature-input", "sig1=("), ("signature", "sig1=not-bytes"),
                         ("signature-input", good["signature-input"] + ", sig2=()")]:
        broken = SignedRequest("GET", TARGET, HOST, tuple({**good, field: value}.items()))
        assert verify(broken).outcome is Outcome.INVALID, field
    unknown = verify_request(signed(), lambda keyid: None, POLICY, NOW, NonceMemory())
    assert unknown.outcome is Outcome.FAILED


def test_a_full_nonce_memory_refuses_rather_than_forgets():
    nonces = NonceMemory(capacity=2)
    assert verify(signed(), nonces=nonces).ok and verify(signed(), nonces=nonces).ok
    refused = verify(signed(), nonces=nonces)
    assert refused.outcome is Outcome.REPLAYED and "too many" in refused.reason
    assert verify(signed(created=NOW + 40, expires=NOW + 70), NOW + 41, nonces).ok  # aged out


# --- the configured integrations -----------------------------------------------------------

def credentials(text: str, tmp_path: Path) -> AudioHookCredentials:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return AudioHookCredentials.from_file(path)


SECRET_B64 = base64.b64encode(SECRET).decode()
KEY_SHA = hashlib.sha256(b"key-only-api-key-0000").hexdigest()
CONFIG = f"""
tokens: []
platforms:
  twilio: [{{name: someone-elses, whatever: 1}}]
  audiohook:
    - {{name: genesys-prod, api_key: {KEY}, client_secret: "{SECRET_B64}"}}
    - {{name: genesys-test, api_key_sha256: {KEY_SHA}}}
"""


def test_signed_key_needs_its_signature_and_a_key_alone_suffices_alone(tmp_path):
    creds = credentials(CONFIG, tmp_path)
    assert len(creds) == 2
    decision = creds.authenticate(signed(), NOW)
    assert decision.principal is not None and decision.name == "genesys-prod"
    assert (decision.principal.role, decision.principal.name) == (Role.INGEST,
                                                                  "audiohook:genesys-prod")
    unsigned = SignedRequest("GET", TARGET, HOST, (("x-api-key", KEY),))
    assert "not signed" in creds.authenticate(unsigned, NOW).reason
    assert creds.authenticate(unsigned, NOW).principal is None
    key_only = SignedRequest("GET", TARGET, HOST, (("X-API-KEY", "key-only-api-key-0000"),))
    assert creds.authenticate(key_only, NOW).principal.name == "audiohook:genesys-test"
    for headers in [(), (("x-api-key", "an-unknown-key-000000"),)]:
        refused = creds.authenticate(SignedRequest("GET", TARGET, HOST, headers), NOW)
        assert refused.principal is None and refused.name is None
    # Signed with the right secret, but the keyid is not the key it came with.
    other = creds.authenticate(signed(keyid="genesys-api-key-other-0000"), NOW)
    assert other.principal is None and "keyid is not the X-API-KEY" in other.reason
    assert creds.authenticate(signed(secret=b"x" * 32), NOW).principal is None


def test_credentials_turn_access_control_on(tmp_path):
    creds = credentials(CONFIG, tmp_path)
    tokens = TokenRegistry.from_file(tmp_path / "config.yaml")  # platforms, no tokens: fine
    assert tokens.is_open and not guarded(tokens, creds).is_open
    assert guarded(tokens, AudioHookCredentials()).is_open
    only_platforms = tmp_path / "platforms.yaml"
    only_platforms.write_text(CONFIG.replace("tokens: []\n", ""), encoding="utf-8")
    assert len(TokenRegistry.from_file(only_platforms)) == 0


@pytest.mark.parametrize("text,message", [
    ("platforms: [audiohook]", "'platforms' must be a mapping"),
    ("platforms: {audiohook: {name: x}}", "platforms.audiohook must be a list"),
    ("platforms: {audiohook: [{api_key: genesys-api-key-0123456789}]}",
     r"platforms.audiohook\[0\]: name: Field required"),
    ("platforms: {audiohook: [{name: a}]}", "exactly one of 'api_key' and 'api_key_sha256'"),
    (f"platforms: {{audiohook: [{{name: a, api_key: {KEY}, api_key_sha256: {KEY_SHA}}}]}}",
     "exactly one of"),
    ("platforms: {audiohook: [{name: a, api_key: short-key}]}", "at least 16 characters"),
    ("platforms: {audiohook: [{name: a, api_key_sha256: abc}]}", "api_key_sha256"),
    (f"platforms: {{audiohook: [{{name: a, api_key: {KEY}, client_secret: 'not base64!'}}]}}",
     "'client_secret' is not base64"),
    (f"platforms: {{audiohook: [{{name: a, api_key: {KEY}, secret: x}}]}}",
     "Extra inputs are not permitted"),
    (f"platforms: {{audiohook: [{{name: a, api_key: {KEY}}}, {{name: a, api_key_sha256: "
     f"{KEY_SHA}}}]}}", r"\[1\]: the name 'a' twice"),
    (f"platforms: {{audiohook: [{{name: a, api_key: {KEY}}}, {{name: b, api_key_sha256: "
     f"{hashlib.sha256(KEY.encode()).hexdigest()}}}]}}", r"\[1\]: the same API key twice"),
    ("platforms: {audiohook: [\n", "not valid YAML"),
])
def test_config_errors_name_the_file_and_entry(tmp_path, text, message):
    with pytest.raises(AuthConfigError, match=message) as info:
        credentials(text, tmp_path)
    assert str(tmp_path / "config.yaml") in str(info.value)
    assert KEY not in str(info.value) and "not base64!" not in str(info.value)


def test_no_file_no_credentials(tmp_path):
    assert len(AudioHookCredentials.from_file(None)) == 0
    assert len(credentials("tokens: []\n", tmp_path)) == 0
    with pytest.raises(AuthConfigError, match="cannot read"):
        AudioHookCredentials.from_file(tmp_path / "missing.yaml")


def test_the_reference_client_logs_what_the_tests_read():
    """The log reader, on the client's own output format (pino-pretty under `script`)."""
    sample = ("\x1b[1G\x1b[0K[09:02:43.735] \x1b[32mINFO\x1b[39m: \x1b[36monOpenedMessage - "
              "Session open! Parameters: {}\x1b[39m\r\n    session: \"4292358f-1254-440f-83fc-"
              "574e528cfe6f\"\r\n[09:02:49.266] \x1b[32mINFO\x1b[39m: \x1b[36mEvent message: {\r\n"
              ' "entities": []\r\n}\x1b[39m\r\n[09:02:50.000] \x1b[33mWARN\x1b[39m: late\r\n')
    run = reference.ClientRun(0, sample, reference.parse_log(sample))
    assert [(r.level, r.session) for r in run.records] == [
        ("INFO", "4292358f-1254-440f-83fc-574e528cfe6f"), ("INFO", None), ("WARN", None)]
    assert run.records[1].t == pytest.approx(9 * 3600 + 2 * 60 + 49.266)
    assert [p for _, p in reference.events(run)] == [{"entities": []}]
    assert [r.message for r in run.problems] == ["late"]
    assert json.loads(json.dumps(reference.request_headers(run))) == []
