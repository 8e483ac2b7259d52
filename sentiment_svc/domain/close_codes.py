"""Every WebSocket close code the service sends, named once.

1000-1015 are RFC 6455's (and IANA's registry); 4000-4999 are for applications: ours
mirror the HTTP status of the same meaning (4400 = 400, ...), so a client can map them.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000  # the session ended as planned (the call stopped, a replay finished)
    UNSUPPORTED_DATA = 1003  # a message kind the protocol does not have (unknown type, binary)
    INVALID_PAYLOAD = 1007  # a message that is not what it claims (bad JSON, base64, audio)
    POLICY_VIOLATION = 1008  # against the protocol's rules (order, sequence) or idle too long
    MESSAGE_TOO_BIG = 1009  # a message over the size limit
    INTERNAL_ERROR = 1011  # the service failed; the call is stored as failed
    TRY_AGAIN_LATER = 1013  # the service is full or not ready: a balancer may retry elsewhere
    BAD_REQUEST = 4400  # the session's parameters are refused (a call's start, a replay speed)
    UNAUTHENTICATED = 4401  # no token, or an unknown one
    FORBIDDEN = 4403  # the token's role or owner may not use this (or the origin is foreign)
    NOT_FOUND = 4404  # no such call
