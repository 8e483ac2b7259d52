"""Verifying an HTTP Message Signature (RFC 9421, HMAC-SHA256) on a request, without I/O.

Genesys Cloud signs the websocket upgrade of every AudioHook session whose integration has a
client secret: ``Signature-Input: sig1=("@request-target" "@authority"
"audiohook-organization-id" "audiohook-session-id" "audiohook-correlation-id" "x-api-key");
keyid="<API key>";nonce="…";alg="hmac-sha256";created=…;expires=…`` and ``Signature:
sig1=:<HMAC-SHA256 of the signature base, keyed with the base64-decoded client secret>:``.

The structured fields, the signature base and the HMAC come from ``http_message_signatures``
(an RFC 9421 implementation). This module adds the policy around it: the components that
must be covered, a ``keyid`` and a ``nonce`` that must be there, how old a signature may be
(``created`` not in the future, ``expires`` not passed, both within a small clock skew, and
at most `SignaturePolicy.max_age_s` since ``created``), and a nonce used once
(`NonceMemory`, remembered until the signature would have expired anyway, and only once the
signature verified, so that forged requests cannot fill it). The clock is an argument and
the nonce memory a value the caller keeps: nothing here reads a clock or a socket. Every
refusal comes back as a `Verification` with a one-line reason for the log; no secret is
ever part of it.

Sources: RFC 9421 (sections 2.2.5 ``@request-target``, 2.3 signature parameters, 2.5 the
signature base, 3.2 verification, 7.2.2 replay); the AudioHook protocol's "Establishing
connection" walkthrough (https://developer.genesys.cloud/devapps/audiohook/session-walkthrough)
and its signed example; what Genesys' reference client signs
(purecloudlabs/audiohook-reference-implementation, client/src/clientwebsocket.ts,
app/audiohook/src/httpsignature/signature-builder.ts).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import http_sf
from cryptography.exceptions import InvalidSignature as BadMac
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
)
from http_message_signatures.algorithms import HMAC_SHA256

ALGORITHM = "hmac-sha256"
DEFAULT_MAX_AGE_S = 30.0  # Genesys' signer gives its signatures 30 s (created + 30)
DEFAULT_CLOCK_SKEW_S = 5.0
MIN_NONCE_LENGTH = 22  # 128 random bits as base64; Genesys sends 18 bytes (24 characters)
DEFAULT_NONCE_CAPACITY = 100_000  # signatures live 30 s: some 3,000 new sessions a second
MAX_REASON = 200


class Outcome(StrEnum):
    VERIFIED = "verified"
    UNSIGNED = "unsigned"  # neither Signature nor Signature-Input
    INVALID = "invalid"  # malformed, a parameter or a required component missing
    EXPIRED = "expired"  # too old, expired, or created in the future
    FAILED = "failed"  # the signature does not match (wrong secret, altered request)
    REPLAYED = "replayed"  # a valid signature seen before


@dataclass(frozen=True)
class SignedRequest:
    """What a signature can cover of an HTTP request, as received."""

    method: str  # "GET" for a websocket upgrade
    target: str  # the request target as sent: path, and "?query" if any
    authority: str  # the Host header
    headers: tuple[tuple[str, str], ...]  # every field line, names in any case
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """The named field's lines joined with ", " (RFC 9110), or None if absent."""
        lines = [value.strip() for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(lines) if lines else None


@dataclass(frozen=True)
class SignaturePolicy:
    required_components: tuple[str, ...] = ()
    max_age_s: float = DEFAULT_MAX_AGE_S
    clock_skew_s: float = DEFAULT_CLOCK_SKEW_S
    min_nonce_length: int = MIN_NONCE_LENGTH


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    reason: str  # one line for the log: never a secret, never sent to the peer
    keyid: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.VERIFIED


class NonceMemory:
    """Nonces of verified signatures, each kept until its signature could no longer pass."""

    def __init__(self, capacity: int = DEFAULT_NONCE_CAPACITY) -> None:
        self.capacity = capacity
        self._until: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._until)

    def seen(self, key: tuple[str, str], now: float) -> bool:
        self._forget(now)
        return key in self._until

    def full(self, now: float) -> bool:
        self._forget(now)
        return len(self._until) >= self.capacity

    def remember(self, key: tuple[str, str], until: float) -> None:
        self._until[key] = until
        heapq.heappush(self._expiry, (until, key))

    def _forget(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            until, key = heapq.heappop(self._expiry)
            if self._until.get(key) == until:
                del self._until[key]


def verify_request(
    request: SignedRequest,
    secret_for: Callable[[str], bytes | None],
    policy: SignaturePolicy,
    now: float,
    nonces: NonceMemory,
) -> Verification:
    """Check `request`'s signature; `secret_for(keyid)` is the HMAC key, None if unknown.

    `now` is UTC epoch seconds. A verified signature's nonce is remembered in `nonces`.
    """
    if request.header("signature-input") is None and request.header("signature") is None:
        return Verification(Outcome.UNSIGNED, "no Signature or Signature-Input header")
    try:
        params = _signature_params(request.header("signature-input") or "")
    except ValueError as error:
        return _refuse(Outcome.INVALID, str(error))
    keyid, nonce = params.get("keyid"), params.get("nonce")
    if not isinstance(keyid, str) or not keyid:
        return _refuse(Outcome.INVALID, "the signature has no keyid")
    if not isinstance(nonce, str) or len(nonce) < policy.min_nonce_length:
        return _refuse(Outcome.INVALID, f"the signature's nonce is missing or shorter than "
                       f"{policy.min_nonce_length} characters", keyid)
    if params.get("alg", ALGORITHM) != ALGORITHM:
        return _refuse(Outcome.INVALID, f"algorithm {params['alg']!r} is not {ALGORITHM}", keyid)
    stale = _stale(params, policy, now)
    if stale is not None:
        return _refuse(Outcome.EXPIRED, stale, keyid)
    secret = secret_for(keyid)
    if secret is None:
        return _refuse(Outcome.FAILED, "no client secret for this keyid", keyid)
    verifier = _PolicyVerifier(signature_algorithm=HMAC_SHA256, key_resolver=_OneKey(secret))
    try:
        verifier.verify(_Message(request), max_age=None,
                        require_components=policy.required_components)
    except (InvalidSignature, HTTPMessageSignaturesException) as error:
        if isinstance(error.__cause__, BadMac):
            return _refuse(Outcome.FAILED, "the signature does not match", keyid)
        return _refuse(Outcome.INVALID, str(error), keyid)
    key = (keyid, nonce)
    if nonces.seen(key, now):
        return _refuse(Outcome.REPLAYED, "the signature's nonce was used before", keyid)
    if nonces.full(now):
        return _refuse(Outcome.REPLAYED, "too many recent nonces to tell a replay", keyid)
    nonces.remember(key, _valid_until(params, policy))
    return Verification(Outcome.VERIFIED, "verified", keyid)


def _refuse(outcome: Outcome, reason: str, keyid: str | None = None) -> Verification:
    reason = " ".join(reason.split())
    return Verification(outcome, reason[:MAX_REASON], keyid)


def _signature_params(field: str) -> dict[str, Any]:
    """The parameters of the one signature in a Signature-Input field."""
    try:
        parsed = http_sf.parse(field.encode("latin-1"), tltype="dictionary")
    except (http_sf.StructuredFieldError, UnicodeEncodeError, ValueError):
        raise ValueError("Signature-Input is not a structured-field dictionary") from None
    if len(parsed) != 1:
        raise ValueError(f"Signature-Input has {len(parsed)} signatures, not one")
    members, params = next(iter(parsed.values()))
    if not isinstance(members, list):
        raise ValueError("Signature-Input's member is not an inner list of components")
    for name in ("created", "expires"):
        if name in params and (type(params[name]) is not int or params[name] < 0):
            raise ValueError(f"the signature's {name} is not a non-negative integer")
    if "created" not in params:
        raise ValueError("the signature has no created time")
    return dict(params)


def _stale(params: dict[str, Any], policy: SignaturePolicy, now: float) -> str | None:
    created, expires = params["created"], params.get("expires")
    if created > now + policy.clock_skew_s:
        return "the signature was created in the future"
    if expires is not None and expires < now - policy.clock_skew_s:
        return "the signature has expired"
    if created + policy.max_age_s < now - policy.clock_skew_s:
        return f"the signature is older than {policy.max_age_s:g} s"
    return None


def _valid_until(params: dict[str, Any], policy: SignaturePolicy) -> float:
    """The last moment `_stale` would let this signature through: its nonce's lifetime."""
    until = params["created"] + policy.max_age_s
    if params.get("expires") is not None:
        until = min(until, params["expires"])
    return until + policy.clock_skew_s


class _PolicyVerifier(HTTPMessageVerifier):
    """The library's verifier without its own wall clock: `verify_request` checked time."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def resolve_public_key(self, key_id: str) -> bytes:
        return self._secret

    def resolve_private_key(self, key_id: str) -> bytes:
        return self._secret


class _Headers:
    """The read-only header view the library reads: every field line, in order."""

    def __init__(self, lines: Iterable[tuple[str, str]]) -> None:
        self._lines = list(lines)

    def items(self) -> list[tuple[str, str]]:
        return self._lines

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._lines)


class _Message:
    """A `SignedRequest` as the library's request interface (method, url, headers)."""

    def __init__(self, request: SignedRequest) -> None:
        self.method = request.method.upper()
        self.url = f"{request.scheme}://{request.authority}{request.target}"
        self.request_target = request.target  # as sent, not re-derived from the URL
        self.headers = _Headers(request.headers)


def utc_now() -> float:
    """The clock `verify_request` wants, for the I/O shell that calls it."""
    return time.time()
