"""Token configuration: loading, validation errors, and constant-time authentication."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sentiment_svc.web.auth import (
    AuthConfigError,
    Principal,
    Role,
    TokenRegistry,
    bearer_token,
    hash_token,
)

SUPERVISOR = "supervisor-secret-0123456789"
OPERATOR = "operator-secret-0123456789"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_hash_token() -> None:
    assert hash_token(SUPERVISOR) == hashlib.sha256(SUPERVISOR.encode()).hexdigest()
    with pytest.raises(ValueError, match="at least 16"):
        hash_token("short")


def test_load_from_a_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
listen: 0.0.0.0:8080   # keys of the rest of the service are ignored here
tokens:
  - {{role: operator, operator_id: op-1, sha256: {hash_token(OPERATOR).upper()}}}
  - {{role: supervisor, token: {SUPERVISOR}, name: night-shift}}
""")
    registry = TokenRegistry.load(path, environ={})
    assert len(registry) == 2 and not registry.is_open
    assert registry.authenticate(OPERATOR) == Principal(Role.OPERATOR, "op-1", "tokens[0]")
    assert registry.authenticate(SUPERVISOR) == Principal(Role.SUPERVISOR, None, "night-shift")
    assert registry.authenticate("someone-elses-token-0123") is None
    assert registry.authenticate("") is None
    assert registry.authenticate(None) is None
    assert SUPERVISOR not in repr(vars(registry))  # the plain token is not kept


def test_unnamed_tokens_are_each_their_own_principal() -> None:
    """Each ingest token has its own live-call quota, named or not."""
    registry = TokenRegistry.from_entries([
        {"role": "ingest", "token": "ingest-token-one-0123456"},
        {"role": "ingest", "token": "ingest-token-two-0123456"},
    ])
    first = registry.authenticate("ingest-token-one-0123456")
    second = registry.authenticate("ingest-token-two-0123456")
    assert first is not None and second is not None and first != second


def test_load_from_the_environment() -> None:
    env = {"SENTIMENT_TOKENS": f'[{{"role": "qa", "token": "{SUPERVISOR}"}}]'}
    found = TokenRegistry.load(None, env).authenticate(SUPERVISOR)
    assert found == Principal(Role.QA, None, "tokens[0]")
    env = {"SENTIMENT_TOKENS": f"tokens: [{{role: ingest, token: {OPERATOR}}}]"}
    found = TokenRegistry.load(None, env).authenticate(OPERATOR)
    assert found == Principal(Role.INGEST, None, "tokens[0]")
    assert TokenRegistry.load(None, {}).is_open


def test_file_and_environment_together_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "tokens: []\n")
    assert TokenRegistry.load(path, {}).is_open  # explicitly open
    with pytest.raises(AuthConfigError, match="use one"):
        TokenRegistry.load(path, {"SENTIMENT_TOKENS": "[]"})


@pytest.mark.parametrize(("entries", "message"), [  # TOK stands for a valid secret
    ("{role: operator, token: TOK}", "needs an 'operator_id'"),
    ("{role: qa, operator_id: op-1, token: TOK}", "cannot have an 'operator_id'"),
    ("{role: qa}", "exactly one of 'token' and 'sha256'"),
    ("{role: qa, token: TOK, sha256: " + "a" * 64 + "}", "exactly one of"),
    ("{role: qa, token: short}", "at least 16"),
    ("{role: qa, sha256: abc}", r"tokens\[0\]: sha256"),
    ("{role: admin, token: TOK}", r"tokens\[0\]: role"),
    ("{role: qa, tokn: TOK}", "tokn"),
    ("{role: qa, token: TOK}, {role: ingest, token: TOK}", r"tokens\[1\]: the same token twice"),
])
def test_invalid_entries_are_named(tmp_path: Path, entries: str, message: str) -> None:
    path = write(tmp_path, f"tokens: [{entries.replace('TOK', OPERATOR)}]\n")
    with pytest.raises(AuthConfigError, match=message) as info:
        TokenRegistry.from_file(path)
    assert str(path) in str(info.value)
    assert OPERATOR not in str(info.value)  # a secret never reaches an error message


def test_a_file_without_tokens_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="no 'tokens' key"):
        TokenRegistry.from_file(write(tmp_path, "token:\n  - {role: qa}\n"))
    with pytest.raises(AuthConfigError, match="cannot read"):
        TokenRegistry.from_file(tmp_path / "missing.yaml")
    with pytest.raises(AuthConfigError, match="not valid YAML"):
        TokenRegistry.from_file(write(tmp_path, "tokens: [\n"))


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None
