"""Bearer-token authentication and roles for the REST API, ingest and feed websockets.

Roles: ``ingest`` (telephony pushing audio), ``operator`` (bound to one operator_id: its own
calls and feed), ``supervisor`` and ``qa`` (all calls). Tokens are configured in YAML, in
the service's ``--config FILE`` under ``tokens:`` or in the ``SENTIMENT_TOKENS`` variable
(the same list, YAML or JSON); telephony platforms' own credentials go under ``platforms:``
in the same file (`audiohook_auth` for Genesys AudioHook)::

    tokens:
      - {role: operator, operator_id: op-1, sha256: 9f86d081...}   # sentiment-svc hash-token
      - {role: supervisor, token: a-long-random-secret, name: night-shift}

A plain ``token`` is hashed at load and not kept. Presented tokens are hashed and compared
with every configured digest using `hmac.compare_digest` (no early exit, no timing hint of
which entry matched). With no tokens configured the registry `is_open`: every request gets
the most privileged role it asks for; the caller must then listen on loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pydantic
import yaml
from fastapi import HTTPException, Request, Security, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import WebSocketException
from starlette.websockets import WebSocketState

from sentiment_svc.domain.close_codes import CloseCode

ENV_VAR = "SENTIMENT_TOKENS"
MIN_TOKEN_LENGTH = 16
WS_UNAUTHENTICATED = CloseCode.UNAUTHENTICATED
WS_FORBIDDEN = CloseCode.FORBIDDEN


class Role(StrEnum):
    INGEST = "ingest"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    QA = "qa"


_PRIVILEGE = (Role.SUPERVISOR, Role.QA, Role.OPERATOR, Role.INGEST)  # open mode picks first


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``operator_id`` is set for operators (None only in open mode)."""

    role: Role
    operator_id: str | None = None
    name: str | None = None


class AuthConfigError(ValueError):
    """The token configuration is invalid; the message names the source and entry."""


def validation_problems(error: pydantic.ValidationError, whole: str = "entry") -> str:
    """A config entry's validation errors on one line, by field; never the input (a secret)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}"
        for e in error.errors(include_input=False)
    )


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as configured under ``sha256:``."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"a token needs at least {MIN_TOKEN_LENGTH} characters")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class _Entry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    role: Role
    operator_id: str | None = pydantic.Field(default=None, min_length=1)
    token: pydantic.SecretStr | None = None
    sha256: str | None = pydantic.Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    name: str | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> _Entry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of 'token' and 'sha256'")
        if self.role is Role.OPERATOR and self.operator_id is None:
            raise ValueError("an operator token needs an 'operator_id'")
        if self.role is not Role.OPERATOR and self.operator_id is not None:
            raise ValueError(f"a {self.role} token cannot have an 'operator_id'")
        if self.token is not None and len(self.token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"a token needs at least {MIN_TOKEN_LENGTH} characters")
        return self

    def digest(self) -> bytes:
        if self.token is not None:
            return bytes.fromhex(hash_token(self.token.get_secret_value()))
        assert self.sha256 is not None
        return bytes.fromhex(self.sha256)


class TokenRegistry:
    """The configured tokens, kept only as SHA-256 digests."""

    def __init__(self, entries: Iterable[tuple[bytes, Principal]] = (), *,
                 closed: bool = False) -> None:
        self._entries = list(entries)
        self._closed = closed  # other credentials guard the service (``platforms:``)

    @property
    def is_open(self) -> bool:
        return not self._entries and not self._closed

    def closed(self) -> TokenRegistry:
        """The same tokens, never open: where platform credentials are configured, a
        request without a token is refused rather than given every role."""
        return TokenRegistry(self._entries, closed=True)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal whose token this is, or None; constant time in which entry matched."""
        if not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: Principal | None = None
        for expected, principal in self._entries:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found

    @classmethod
    def from_entries(cls, entries: Any, source: str = "tokens") -> TokenRegistry:
        """From the parsed ``tokens:`` list; `AuthConfigError` naming `source` if invalid."""
        if entries is None:
            return cls()
        if not isinstance(entries, list):
            raise AuthConfigError(f"{source}: 'tokens' must be a list")
        parsed: list[tuple[bytes, Principal]] = []
        for index, raw in enumerate(entries):
            try:
                entry = _Entry.model_validate(raw)
            except pydantic.ValidationError as exc:
                raise AuthConfigError(
                    f"{source}: tokens[{index}]: {validation_problems(exc)}") from None
            digest = entry.digest()
            if any(hmac.compare_digest(digest, known) for known, _ in parsed):
                raise AuthConfigError(f"{source}: tokens[{index}]: the same token twice")
            # Each entry is its own principal (a per-token quota counts one token's calls):
            # an unnamed one is named by its place in the list.
            name = entry.name or f"tokens[{index}]"
            parsed.append((digest, Principal(entry.role, entry.operator_id, name)))
        return cls(parsed)

    @classmethod
    def from_yaml(cls, text: str, source: str, *, require_key: bool = True) -> TokenRegistry:
        """From YAML/JSON text: a mapping with ``tokens:``, or (``require_key=False``) the
        list itself."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AuthConfigError(f"{source}: not valid YAML: {exc}") from None
        if isinstance(data, Mapping) and ("tokens" in data or "platforms" in data):
            return cls.from_entries(data.get("tokens"), source)
        if isinstance(data, list) and not require_key:
            return cls.from_entries(data, source)
        raise AuthConfigError(
            f"{source}: no 'tokens' key, nor 'platforms' (write 'tokens: []' to run without"
            " authentication)"
        )

    @classmethod
    def from_file(cls, path: Path) -> TokenRegistry:
        """From the ``tokens:`` key of a YAML config file (other keys are ignored)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthConfigError(f"{path}: cannot read: {exc.strerror}") from None
        return cls.from_yaml(text, str(path))

    @classmethod
    def load(
        cls, config_file: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> TokenRegistry:
        """From `config_file` or ``$SENTIMENT_TOKENS`` (not both); open if neither is set."""
        environ = os.environ if environ is None else environ
        from_env = environ.get(ENV_VAR)
        if config_file is not None and from_env:
            raise AuthConfigError(f"tokens given both in {config_file} and ${ENV_VAR}; use one")
        if config_file is not None:
            return cls.from_file(config_file)
        if from_env:
            return cls.from_yaml(from_env, f"${ENV_VAR}", require_key=False)
        return cls()


def _open_principal(allowed: Iterable[Role]) -> Principal:
    allowed = set(allowed)
    role = next(role for role in _PRIVILEGE if role in allowed)
    return Principal(role, None, "open")


_bearer = HTTPBearer(
    auto_error=False, description="A token from the service's token configuration."
)


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's `Principal`, from ``Authorization: Bearer``.

    401 (with ``WWW-Authenticate: Bearer``) for a missing or unknown token, 403 for a role
    not in `roles`. The registry is ``request.app.state.tokens``.
    """
    if not roles:
        raise ValueError("require_roles() needs at least one role")
    allowed = frozenset(roles)

    async def principal(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(_bearer),  # noqa: B008
    ) -> Principal:
        registry: TokenRegistry = request.app.state.tokens
        if registry.is_open:
            return _open_principal(allowed)
        if credentials is None:
            raise HTTPException(401, "a bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        found = registry.authenticate(credentials.credentials)
        if found is None:
            raise HTTPException(401, "unknown token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if found.role not in allowed:
            raise HTTPException(403, f"the {found.role} role may not do this")
        return found

    return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def websocket_principal(
    websocket: WebSocket, registry: TokenRegistry, allowed_roles: Iterable[Role]
) -> Principal:
    """The websocket peer's principal, from ``Authorization: Bearer``, a single-use
    ``?ticket=`` (`sentiment_svc.web.tickets`) or ``?token=`` (browsers cannot set headers
    on websockets; the consoles use tickets).

    On failure the socket is accepted (a close before accepting would reach the client as a
    bare HTTP 403) and `WebSocketException` is raised with code 4401 (missing/unknown
    token) or 4403 (wrong role) and a reason: let it propagate, and Starlette closes the
    socket with that code and reason. Call this before `websocket.accept()`.
    """
    allowed = frozenset(allowed_roles)
    await check_origin(websocket)
    if registry.is_open:
        return _open_principal(allowed)
    ticket = websocket.query_params.get("ticket")
    if ticket is not None:
        found = websocket.app.state.tickets.redeem(ticket)
        reason = "unknown, used or expired ticket"
    else:
        token = bearer_token(websocket.headers.get("authorization"))
        token = token or websocket.query_params.get("token")
        found = registry.authenticate(token)
        reason = "unknown token" if token else "a token is required"
    if found is None:
        await reject_websocket(websocket, WS_UNAUTHENTICATED, reason)
    elif found.role not in allowed:
        await reject_websocket(websocket, WS_FORBIDDEN, f"the {found.role} role may not use this")
    assert found is not None
    return found


async def check_origin(websocket: WebSocket) -> None:
    """Refuse (4403, see `websocket_principal`) a browser page of a foreign origin."""
    origin = websocket.headers.get("origin")
    if origin and not _origin_allowed(websocket, origin):
        # A page on another site must not ride a browser's stored token into our feeds.
        await reject_websocket(websocket, WS_FORBIDDEN, f"origin {origin[:80]} is not allowed")


def _origin_allowed(websocket: WebSocket, origin: str) -> bool:
    """Browsers send Origin; telephony platforms usually do not. Listed in the
    `allowed_origins` setting, or a page of an allowed host name; where any name is allowed
    (tokens guard the service), a page of the host the request was sent to."""
    state = websocket.app.state
    if origin in getattr(state, "allowed_origins", ()):
        return True
    name = (urlsplit(origin).hostname or "").lower()
    hosts = getattr(state, "allowed_hosts", ("*",))
    if "*" not in hosts:
        return any(name == host or (host.startswith("*.") and name.endswith(host[1:]))
                   for host in hosts)
    host = websocket.headers.get("host", "")
    _, _, authority = origin.partition("://")
    return bool(host) and authority.rstrip("/").lower() == host.lower()


async def reject_websocket(websocket: WebSocket, code: int, reason: str) -> NoReturn:
    """Accept (if not yet) and raise `WebSocketException`: Starlette closes the socket with
    `code` and `reason` (a close before accepting reaches the client as a bare HTTP 403)."""
    if websocket.client_state is WebSocketState.CONNECTING:
        await websocket.accept()
    raise WebSocketException(code=code, reason=reason)
