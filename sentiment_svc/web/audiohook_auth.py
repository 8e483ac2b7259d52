"""Genesys AudioHook credentials: an API key per integration, and its client secret.

Genesys Cloud authenticates an AudioHook session on the websocket upgrade: ``X-API-KEY``
carries the integration's API key and, where the integration has a client secret, the
request is signed (HTTP Message Signatures, `sentiment_svc.protocols.http_signatures`) with
``keyid`` = the API key. They are configured in the service's ``--config`` file::

    platforms:
      audiohook:
        - {name: genesys-prod, api_key: "…", client_secret: "<base64>"}
        - {name: genesys-test, api_key_sha256: "<sha256 hex of the key>"}   # key alone

Each entry is an ingest principal named ``audiohook:<name>`` (counted per principal like an
ingest token). With a ``client_secret`` a request must carry a valid signature covering
``@request-target``, ``@authority``, ``audiohook-organization-id``, ``audiohook-session-id``,
``audiohook-correlation-id`` and ``x-api-key``, at most 30 s old, whose nonce was not seen
before; without one the key alone suffices. Other keys under ``platforms:`` belong to other
modules and are left alone here.

A request to ``/v1/audiohook`` that carries a bearer token (or ``?token=``) is authenticated
by the token, as on every endpoint. Otherwise, where AudioHook credentials are configured,
the upgrade is refused with HTTP 401 (body "unauthorized", nothing else) when the key is
missing or unknown or the signature is missing, wrong, stale or replayed: the connection
never opens, so no message and no audio is ever read. The reason goes to the log with the
session id and the credential's name, never the key or the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml
from fastapi import WebSocket
from fastapi.responses import PlainTextResponse
from starlette.exceptions import WebSocketException

from sentiment_svc.protocols.http_signatures import (
    NonceMemory,
    Outcome,
    SignaturePolicy,
    SignedRequest,
    utc_now,
    verify_request,
)
from sentiment_svc.web.auth import (
    WS_UNAUTHENTICATED,
    AuthConfigError,
    Principal,
    Role,
    TokenRegistry,
    bearer_token,
    validation_problems,
    websocket_principal,
)

log = logging.getLogger(__name__)

PLATFORM = "audiohook"
MIN_API_KEY_LENGTH = 16
SIGNED_COMPONENTS = ("@request-target", "@authority", "audiohook-organization-id",
                     "audiohook-session-id", "audiohook-correlation-id", "x-api-key")
POLICY = SignaturePolicy(required_components=SIGNED_COMPONENTS)
REFUSAL_STATUS = 401
SHOWN_ID = re.compile(r"[^0-9A-Za-z-]")  # what of a session id header may reach the log


class _Entry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    name: str = pydantic.Field(min_length=1, max_length=100)
    api_key: pydantic.SecretStr | None = None
    api_key_sha256: str | None = pydantic.Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    client_secret: pydantic.SecretStr | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> _Entry:
        if (self.api_key is None) == (self.api_key_sha256 is None):
            raise ValueError("give exactly one of 'api_key' and 'api_key_sha256'")
        if self.api_key is not None and len(self.api_key.get_secret_value()) < MIN_API_KEY_LENGTH:
            raise ValueError(f"an API key needs at least {MIN_API_KEY_LENGTH} characters")
        if self.client_secret is not None:
            self.secret()  # raises for anything that is not base64
        return self

    def digest(self) -> bytes:
        if self.api_key is not None:
            return hashlib.sha256(self.api_key.get_secret_value().encode("utf-8")).digest()
        assert self.api_key_sha256 is not None
        return bytes.fromhex(self.api_key_sha256)

    def secret(self) -> bytes | None:
        if self.client_secret is None:
            return None
        try:
            secret = base64.b64decode(self.client_secret.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("'client_secret' is not base64 (as Genesys shows it)") from None
        if not secret:
            raise ValueError("'client_secret' is empty")
        return secret


@dataclass(frozen=True)
class AudioHookCredential:
    name: str
    key_digest: bytes = field(repr=False)
    secret: bytes | None = field(repr=False)  # None: the API key alone suffices
    principal: Principal


@dataclass(frozen=True)
class Decision:
    """What `AudioHookCredentials.authenticate` made of a request: who, or why not."""

    principal: Principal | None
    reason: str
    name: str | None = None  # the credential the API key matched, if any


class AudioHookCredentials:
    """The configured AudioHook integrations, and the nonces their signatures used."""

    def __init__(self, entries: Iterable[AudioHookCredential] = (),
                 policy: SignaturePolicy = POLICY, nonces: NonceMemory | None = None) -> None:
        self._entries = list(entries)
        self.policy = policy
        self.nonces = nonces or NonceMemory()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, api_key: str | None) -> AudioHookCredential | None:
        """The credential of this API key; constant time in which entry matched."""
        if not api_key:
            return None
        digest = hashlib.sha256(api_key.encode("utf-8")).digest()
        found = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.key_digest):
                found = entry
        return found

    def authenticate(self, request: SignedRequest, now: float) -> Decision:
        api_key = request.header("x-api-key")
        if not api_key:
            return Decision(None, "no X-API-KEY header")
        credential = self.lookup(api_key)
        if credential is None:
            return Decision(None, "unknown API key")
        if credential.secret is None:
            return Decision(credential.principal, "API key", credential.name)
        secret = credential.secret

        def secret_for(keyid: str) -> bytes | None:
            return secret if hmac.compare_digest(keyid.encode(), api_key.encode()) else None

        verification = verify_request(request, secret_for, self.policy, now, self.nonces)
        if verification.ok:
            return Decision(credential.principal, "signature verified", credential.name)
        reason = verification.reason
        if verification.outcome is Outcome.UNSIGNED:
            reason = "a client secret is configured but the request is not signed"
        elif verification.keyid is not None and verification.keyid != api_key:
            reason = "the signature's keyid is not the X-API-KEY"
        return Decision(None, f"{verification.outcome}: {reason}", credential.name)

    @classmethod
    def from_config(cls, data: Any, source: str) -> AudioHookCredentials:
        """From a parsed config file: its ``platforms.audiohook`` list, if any."""
        platforms = data.get("platforms") if isinstance(data, Mapping) else None
        if platforms is None:
            return cls()
        if not isinstance(platforms, Mapping):
            raise AuthConfigError(f"{source}: 'platforms' must be a mapping of platform names")
        entries = platforms.get(PLATFORM)
        if entries is None:
            return cls()
        if not isinstance(entries, list):
            raise AuthConfigError(f"{source}: platforms.{PLATFORM} must be a list")
        parsed: list[AudioHookCredential] = []
        for index, raw in enumerate(entries):
            where = f"{source}: platforms.{PLATFORM}[{index}]"
            try:
                entry = _Entry.model_validate(raw)
            except pydantic.ValidationError as exc:
                raise AuthConfigError(f"{where}: {validation_problems(exc)}") from None
            digest = entry.digest()
            if any(hmac.compare_digest(digest, known.key_digest) for known in parsed):
                raise AuthConfigError(f"{where}: the same API key twice")
            if any(known.name == entry.name for known in parsed):
                raise AuthConfigError(f"{where}: the name {entry.name!r} twice")
            principal = Principal(Role.INGEST, None, f"{PLATFORM}:{entry.name}")
            parsed.append(AudioHookCredential(entry.name, digest, entry.secret(), principal))
        return cls(parsed)

    @classmethod
    def from_file(cls, path: Path | None) -> AudioHookCredentials:
        """From the service's config file (None: no file, no credentials)."""
        if path is None:
            return cls()
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthConfigError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AuthConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_config(data, str(path))


def guarded(tokens: TokenRegistry, credentials: AudioHookCredentials | None) -> TokenRegistry:
    """Configured AudioHook credentials turn access control on, tokens or not."""
    return tokens.closed() if credentials and tokens.is_open else tokens


def signed_request(websocket: WebSocket) -> SignedRequest:
    """The upgrade request as it was sent, for `AudioHookCredentials.authenticate`."""
    scope = websocket.scope
    target = scope.get("raw_path") or scope["path"].encode("utf-8")
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    headers = tuple((name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in scope["headers"])
    return SignedRequest(
        method="GET", target=target.decode("latin-1"),
        authority=websocket.headers.get("host", ""), headers=headers,
        scheme="https" if scope.get("scheme") == "wss" else "http",
    )


async def audiohook_principal(websocket: WebSocket) -> Principal | None:
    """The peer of ``/v1/audiohook``, or None once the upgrade was refused (HTTP 401).

    A bearer token, or no AudioHook credentials configured: `websocket_principal` decides
    (close codes 4401/4403, as on every socket). Call before `websocket.accept()`.
    """
    credentials: AudioHookCredentials | None = getattr(websocket.app.state, "audiohook", None)
    token = bearer_token(websocket.headers.get("authorization")) or websocket.query_params.get(
        "token")
    if token or not credentials:
        return await websocket_principal(websocket, websocket.app.state.tokens, {Role.INGEST})
    decision = credentials.authenticate(signed_request(websocket), utc_now())
    session = SHOWN_ID.sub("", websocket.headers.get("audiohook-session-id", ""))[:36] or "-"
    if decision.principal is not None:
        log.info("audiohook session %s: %s (%s)", session, decision.reason, decision.name)
        return decision.principal
    log.warning("audiohook session %s refused: %s (credential: %s)", session, decision.reason,
                decision.name or "none")
    await _refuse(websocket)
    return None


async def _refuse(websocket: WebSocket) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse("unauthorized", REFUSAL_STATUS))
        return
    # A server without the denial extension: accept, and close with the project's code.
    await websocket.accept()
    raise WebSocketException(code=WS_UNAUTHENTICATED, reason="unauthorized")
