"""The REST API fuzzed from its own OpenAPI schema (schemathesis): every operation, as every
role (and with no token, a wrong token, an open service), on a real `serve` app over a
loopback socket with stored calls in it. No request may get a 5xx, and every reply must be
JSON where the schema says so."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment_svc.storage.db import CallStore
from tests.live_server import TOKENS, LiveServer, secured_registry, start_server
from tests.test_rest import add_call

EXAMPLES_PER_OPERATION = 60
STORED_CALLS = ("c-op1", "c-op2", "c-live")
STORED_CUSTOMERS = ("cust-1", "cust-2", "+79161234567")
WHO = ("none", "bad", "ingest", "op1", "op2", "supervisor", "qa")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("fuzz")
    store = CallStore(data)
    recent = time.time() - 3600  # within the retention the service purges by
    add_call(store, "c-op1", operator="op-1", customer="cust-1", started_at=recent)
    add_call(store, "c-op2", operator="op-2", customer="cust-2", started_at=recent + 100)
    add_call(store, "c-live", operator="op-1", customer="cust-3", started_at=recent + 200,
             end=False)
    store.close()
    server = start_server(data, secured_registry())
    yield server
    server.stop()


def headers(who: str) -> dict[str, str]:
    if who == "none":
        return {}
    token = TOKENS.get(who, "not-a-configured-token-at-all")
    return {"Authorization": f"Bearer {token}"}


def operations(live: LiveServer) -> list:
    schema = schemathesis.openapi.from_url(f"{live.http}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 10, [op.label for op in found]
    # Erasures last: the reads should find the stored calls first.
    return sorted(found, key=lambda op: op.method.upper() == "DELETE")


def fuzz(live: LiveServer, operation, who: str) -> tuple[int, int]:
    """Run the examples; (requests sent, 2xx replies)."""
    counts = [0, 0]

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), data=st.data())
    def run(case, data) -> None:
        # Half the time aim the path at stored rows, so the fuzz reaches past the 404s.
        for name, known in (("call_id", STORED_CALLS), ("customer_id", STORED_CUSTOMERS)):
            if case.path_parameters and name in case.path_parameters and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(known))
        response = case.call(base_url=live.http, headers=headers(who), timeout=30)
        counts[0] += 1
        counts[1] += 200 <= response.status_code < 300
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} as {who}: {response.status_code} "
            f"{response.text[:300]}")
        kind = (response.headers.get("content-type") or [""])[0]
        if response.status_code >= 400 and kind.startswith("application/json"):
            response.json()  # errors are well-formed JSON

    run()
    return counts[0], counts[1]


def test_no_operation_fails_for_any_role(live: LiveServer) -> None:
    sent = succeeded = 0
    reached: set[str] = set()
    for operation in operations(live):
        for who in WHO:
            requests, ok = fuzz(live, operation, who)
            sent += requests
            succeeded += ok
            if ok:
                reached.add(operation.label)
    print(f"fuzzed {len(reached)} operations reached, {sent} requests, {succeeded} 2xx")
    # The fuzz did real work: thousands of requests, and it got past authorisation and
    # validation on most operations (the stored rows, the right roles).
    assert sent >= 2000, sent
    assert succeeded >= 200, succeeded
    assert len(reached) >= 8, sorted(reached)
    assert httpx.get(f"{live.http}/readyz", timeout=10).status_code == 200  # still serving
