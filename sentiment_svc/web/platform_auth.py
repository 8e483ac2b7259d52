"""Per-platform ingest credentials: what Twilio and jambonz / mod_audio_fork can send.

A telephony platform cannot always present one of our bearer tokens (`web.auth`). Twilio's
``<Stream url>`` takes no query string and no headers of ours; jambonz and mod_audio_fork
send HTTP Basic. The ``platforms:`` key of the service's ``--config`` YAML (beside
``tokens:``) lists each platform's own credentials::

    platforms:
      twilio:
        - {name: twilio-main, auth_token: "<the account's auth token>",
           public_url: "wss://calls.example.com/v1/twilio"}   # optional, see below
      basic:     # jambonz listen wsAuth, mod_audio_fork MOD_AUDIO_BASIC_AUTH_*
        - {name: jambonz-1, username: jambonz, password: "a-long-random-secret"}
        - {name: fs-2, username: freeswitch, password_sha256: "<sha256 of the password>"}

Each entry is an ingest `Principal` with its name (so its calls count against
``max_calls_per_token`` like a token's), accepted only on its own protocol's route
(`SCHEMES`): a Twilio signature on ``/v1/twilio``, Basic on ``/v1/audio-fork`` and
``/v1/asterisk`` (Asterisk's ``websocket_client.conf`` ``username``/``password``). A request
that presents no platform credential is authenticated by token as before, so tokens keep
working on every ingest route. A refusal closes with 4401 before any message is read, and
the reason (never the secret) is logged.

Twilio signs the WebSocket upgrade request with ``X-Twilio-Signature``: the base64
HMAC-SHA1, keyed with the account's auth token, of the exact URL of the ``<Stream>`` (there
are no POST parameters). It is checked with the official ``twilio`` package's
`RequestValidator` against the credential's ``public_url`` when one is configured (the URL
Twilio was given, where a proxy rewrites host or path), else against ``wss://`` + the
request's ``Host`` + its path (Twilio only connects over ``wss``; the service behind a TLS
proxy sees ``ws``). The signature covers nothing but the URL, so it is the same for every
stream to that URL: TLS keeps it secret, as it does a token.

Basic: the presented user name and password are hashed with SHA-256 and compared with every
entry's digests using `hmac.compare_digest`, with no early exit; a plain ``password`` is
hashed at load and not kept.

Adding a platform: a field on `PlatformsConfig` (a list of entries with a ``name``), and an
entry in `SCHEMES` for its route.

Sources: https://www.twilio.com/docs/usage/security#validating-requests,
https://www.twilio.com/docs/global-infrastructure/firewall-configurations/media-streams-configuration
(Media Streams must validate X-Twilio-Signature), https://www.twilio.com/docs/voice/twiml/stream
(no query string in the url: use <Parameter>), github.com/twilio/twilio-python
(twilio/request_validator.py), https://docs.jambonz.org/verbs/verbs/listen (wsAuth),
github.com/jambonz/freeswitch-modules (mod_audio_fork/lws_glue.cpp: Basic auth from the
MOD_AUDIO_BASIC_AUTH_USERNAME / _PASSWORD channel variables), RFC 7617 (Basic).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydantic
import yaml
from starlette.datastructures import Headers
from starlette.websockets import WebSocket
from twilio.request_validator import RequestValidator

from sentiment_svc.domain.vocabulary import Protocol
from sentiment_svc.web.auth import (
    MIN_TOKEN_LENGTH,
    WS_UNAUTHENTICATED,
    AuthConfigError,
    Principal,
    Role,
    TokenRegistry,
    check_origin,
    reject_websocket,
    validation_problems,
    websocket_principal,
)

log = logging.getLogger(__name__)

KEY = "platforms"
TWILIO_SIGNATURE = "x-twilio-signature"
TWILIO_SCHEME = "wss"  # the only scheme Twilio streams to (error 31922 otherwise)
MAX_LOGGED_URL = 200


class _Entry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    name: str = pydantic.Field(min_length=1, max_length=100)


class TwilioCredential(_Entry):
    auth_token: pydantic.SecretStr
    public_url: str | None = None  # what Twilio was given (and signed) when behind a proxy

    @pydantic.field_validator("auth_token")
    @classmethod
    def _long_enough(cls, value: pydantic.SecretStr) -> pydantic.SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"an auth token has at least {MIN_TOKEN_LENGTH} characters")
        return value

    @pydantic.field_validator("public_url")
    @classmethod
    def _wss_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != TWILIO_SCHEME or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("public_url is the <Stream> url: wss://host/path, no query string")
        return value


class BasicCredential(_Entry):
    username: str = pydantic.Field(min_length=1, pattern=r"^[^:]+$")
    password: pydantic.SecretStr | None = None
    password_sha256: str | None = pydantic.Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    @pydantic.model_validator(mode="after")
    def _one_password(self) -> BasicCredential:
        if (self.password is None) == (self.password_sha256 is None):
            raise ValueError("give exactly one of 'password' and 'password_sha256'")
        if self.password is not None and len(self.password.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"a password has at least {MIN_TOKEN_LENGTH} characters")
        return self

    def password_digest(self) -> bytes:
        if self.password is not None:
            return _sha256(self.password.get_secret_value())
        assert self.password_sha256 is not None
        return bytes.fromhex(self.password_sha256)


class PlatformsConfig(pydantic.BaseModel):
    """The ``platforms:`` mapping: one optional list per platform."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    twilio: tuple[TwilioCredential, ...] = ()
    basic: tuple[BasicCredential, ...] = ()
    # Genesys AudioHook: API keys and signature secrets, read by `web.audiohook_auth`
    audiohook: tuple[dict[str, Any], ...] = ()

    @pydantic.model_validator(mode="after")
    def _unique_names(self) -> PlatformsConfig:
        seen: set[str] = set()
        for field in type(self).model_fields:
            for entry in getattr(self, field):
                if isinstance(entry, _Entry):
                    if entry.name in seen:
                        raise ValueError(f"the name {entry.name!r} is used twice")
                    seen.add(entry.name)
        return self


@dataclass(frozen=True, eq=False)
class TwilioKey:
    validator: RequestValidator  # holds the auth token: never logged or repr'd
    public_url: str | None
    principal: Principal

    def __repr__(self) -> str:
        return f"TwilioKey({self.principal.name!r})"


@dataclass(frozen=True, eq=False)
class BasicKey:
    username: bytes  # SHA-256 digests
    password: bytes
    principal: Principal


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class PlatformCredentials:
    """The configured platform credentials, ready to check a presented one."""

    def __init__(self, config: PlatformsConfig | None = None) -> None:
        config = config or PlatformsConfig()
        self.twilio = tuple(
            TwilioKey(RequestValidator(entry.auth_token.get_secret_value()), entry.public_url,
                      Principal(Role.INGEST, None, entry.name))
            for entry in config.twilio)
        self.basic = tuple(
            BasicKey(_sha256(entry.username), entry.password_digest(),
                     Principal(Role.INGEST, None, entry.name))
            for entry in config.basic)

    def __len__(self) -> int:
        return len(self.twilio) + len(self.basic)

    def twilio_principal(self, signature: str, request_url: str) -> Principal | None:
        """Whose auth token signed `request_url` (or its ``public_url``), or None. Every
        credential is tried (no early exit): the time says nothing of which matched."""
        found: Principal | None = None
        for key in self.twilio:
            if key.validator.validate(key.public_url or request_url, {}, signature):
                found = found or key.principal
        return found

    def basic_principal(self, username: str, password: str) -> Principal | None:
        """The entry with this user name and password, or None; constant time in which."""
        user, secret = _sha256(username), _sha256(password)
        found: Principal | None = None
        for key in self.basic:
            # `&`, not `and`: both comparisons always run.
            if hmac.compare_digest(user, key.username) & hmac.compare_digest(secret, key.password):
                found = found or key.principal
        return found

    @classmethod
    def from_mapping(cls, data: Any, source: str = KEY) -> PlatformCredentials:
        """From the parsed config file; no ``platforms:`` key (or an empty one) is none."""
        if not isinstance(data, Mapping) or data.get(KEY) is None:
            return cls()
        try:
            return cls(PlatformsConfig.model_validate(data[KEY]))
        except pydantic.ValidationError as exc:
            raise AuthConfigError(f"{source}: {KEY}: {validation_problems(exc, KEY)}") from None

    @classmethod
    def from_file(cls, path: Path) -> PlatformCredentials:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise AuthConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise AuthConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def load(cls, config_file: Path | None) -> PlatformCredentials:
        return cls() if config_file is None else cls.from_file(config_file)


def check_access(tokens: TokenRegistry, platforms: PlatformCredentials) -> None:
    """Platform credentials with no tokens would leave the consoles and the REST API open to
    anyone (no tokens: every request gets every role): refuse that configuration."""
    if len(platforms) and tokens.is_open:
        raise AuthConfigError(
            f"'{KEY}' credentials are configured but no tokens: the service would run open; "
            "configure tokens for the consoles too"
        )


# -- the ingest routes ------------------------------------------------------------------
Outcome = Principal | str  # the principal, or why the presented credential was refused


@dataclass(frozen=True)
class Scheme:
    """How one platform's credential is presented on its route and checked."""

    platform: str  # its PlatformsConfig field
    presented: Callable[[Headers], bool]
    check: Callable[[WebSocket, PlatformCredentials], Outcome]


def request_url(websocket: WebSocket) -> str:
    """The URL Twilio connected to, as far as the request tells: ``wss://`` + Host + the
    raw path and query."""
    raw_path = websocket.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else websocket.url.path
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    host = websocket.headers.get("host") or websocket.url.netloc
    return f"{TWILIO_SCHEME}://{host}{path}" + (f"?{query}" if query else "")


def _check_twilio(websocket: WebSocket, platforms: PlatformCredentials) -> Outcome:
    signature = websocket.headers.get(TWILIO_SIGNATURE, "").strip()
    url = request_url(websocket)
    found = platforms.twilio_principal(signature, url) if signature else None
    if found is not None:
        return found
    if not platforms.twilio:
        return "X-Twilio-Signature given, but no twilio credentials are configured"
    return (f"X-Twilio-Signature matches no twilio credential for {url[:MAX_LOGGED_URL]} "
            "(or its public_url)")


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user name, password) of an ``Authorization: Basic`` value (RFC 7617, UTF-8);
    None if it is no Basic header; `ValueError` if it is a malformed one."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise ValueError("malformed Basic credentials: no ':' between user and password")
    return username, password


def _check_basic(websocket: WebSocket, platforms: PlatformCredentials) -> Outcome:
    try:
        credentials = basic_credentials(websocket.headers.get("authorization"))
    except ValueError as error:
        return str(error)
    assert credentials is not None
    username, password = credentials
    found = platforms.basic_principal(username, password)
    if found is not None:
        return found
    if not platforms.basic:
        return "Basic credentials given, but no basic credentials are configured"
    return "the Basic user name and password match no basic credential"


_BASIC = Scheme("basic", lambda headers: headers.get("authorization", "").strip().lower()
                .startswith("basic "), _check_basic)
SCHEMES: dict[Protocol, Scheme] = {
    Protocol.TWILIO: Scheme("twilio", lambda headers: TWILIO_SIGNATURE in headers,
                            _check_twilio),
    Protocol.AUDIO_FORK: _BASIC,
    Protocol.ASTERISK_WS: _BASIC,  # websocket_client.conf's username and password
}


async def ingest_principal(websocket: WebSocket, protocol: Protocol) -> Principal:
    """The ingest peer's principal: its platform's credential where it presents one on its
    platform's route, else its token (`websocket_principal`). Refusals close with 4401 (see
    `websocket_principal`); call this before `websocket.accept()`."""
    state = websocket.app.state
    tokens: TokenRegistry = state.tokens
    platforms: PlatformCredentials = getattr(state, "platforms", None) or PlatformCredentials()
    scheme = SCHEMES.get(protocol)
    if scheme is None or not scheme.presented(websocket.headers) or (
            tokens.is_open and not getattr(platforms, scheme.platform)):
        return await websocket_principal(websocket, tokens, {Role.INGEST})
    await check_origin(websocket)
    outcome = scheme.check(websocket, platforms)
    if isinstance(outcome, Principal):
        return outcome
    client = websocket.client.host if websocket.client else "unknown"
    log.warning("%s ingest from %s refused: %s", protocol, client, outcome)
    await reject_websocket(websocket, WS_UNAUTHENTICATED, outcome[:120])
