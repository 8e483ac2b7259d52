"""How a webhook is signed, and the check a receiver runs (standard library only: a receiver
may copy this file as it is).

Each delivery carries::

    X-Sentiment-Timestamp: 1765112345             (UTC epoch seconds of this attempt)
    X-Sentiment-Signature: v1=<hex HMAC-SHA256>   (one or more, comma-separated)
    Idempotency-Key: <event id>                   (the same on every retry of an event)
    X-Sentiment-Event: contact_ended

The signature is the hex HMAC-SHA256, keyed with the target's secret, of the timestamp, a
dot and the raw body bytes: ``f"{timestamp}.".encode() + body``. Signing the timestamp
with the body makes an old request useless to replay once it is older than the receiver's
tolerance; each retry is signed afresh. Several ``v1=`` values may appear while a secret is
being rotated: any one that matches is enough. The comparison is `hmac.compare_digest`
(constant time). Receivers deduplicate on ``Idempotency-Key``: delivery is at least once.

The scheme follows the usual practice of signed webhooks (e.g. Stripe's
``t=…,v1=…`` signatures, https://docs.stripe.com/webhooks#verify-manually, and the
Standard Webhooks specification, https://www.standardwebhooks.com/).
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Sentiment-Timestamp"
SIGNATURE_HEADER = "X-Sentiment-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Sentiment-Event"
VERSION = "v1"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The request is not signed by the secret, or not recently; the message says which."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1=<hex>`` value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                   hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, body: bytes, timestamp: str | None, signatures: str | None, *,
           tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> None:
    """Raise `SignatureError` unless `signatures` (the header) holds a valid signature of
    `body` (the raw bytes received) at `timestamp` (the header), within `tolerance_s`."""
    if not timestamp or not signatures:
        raise SignatureError("the timestamp or signature header is missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("the timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance_s:
        raise SignatureError(f"the timestamp is more than {tolerance_s:g} s from now")
    expected = signature(secret, sent_at, body)
    offered = [value.strip() for value in signatures.split(",")]
    # every value is compared (no early exit): the time taken says nothing about which matched
    matched = [hmac.compare_digest(expected, value) for value in offered]
    if not any(matched):
        raise SignatureError("no signature matches the body")
