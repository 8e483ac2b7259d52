"""The cluster's deployment files: `docker-compose.yml` against the Compose Specification
(no Docker engine runs here), and `deploy/nginx.conf` run by a real nginx in front of real
service instances on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlparse

import httpx
import jsonschema
import pytest
import yaml

from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.client import load_client_call, stream_call
from sentiment_svc.config import Settings
from tests.conftest import SCRIPTED_AUDIO
from tests.live_server import start_server
from tests.nginx_server import NGINX_CONF, check, local_config, running_nginx, upstream_servers
from tools.bench import free_port

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
COMPOSE_SPEC = Path(__file__).parent / "data" / "compose" / "compose_spec.json"
SERVICE_PORT = 8000


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def instances(spec: dict) -> dict[str, dict]:
    return {name: service for name, service in spec["services"].items()
            if service.get("image") == "sentiment-svc"}


def test_compose_file_follows_the_compose_specification():
    schema = json.loads(COMPOSE_SPEC.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_compose_runs_two_instances_on_shared_postgres_and_redis_behind_nginx():
    spec = compose()
    services = spec["services"]
    assert {"postgres", "redis", "nginx"} <= set(services)
    nodes = instances(spec)
    assert len(nodes) >= 2
    environments = [node["environment"] for node in nodes.values()]
    assert len({env["SENTIMENT_INSTANCE_ID"] for env in environments}) == len(nodes)
    for key in ("SENTIMENT_DATABASE_URL", "SENTIMENT_REDIS_URL", "SENTIMENT_CUSTOMER_ID_SECRET"):
        assert len({env[key] for env in environments}) == 1, f"{key} differs between instances"
    env = environments[0]
    assert urlparse(env["SENTIMENT_DATABASE_URL"]).hostname == "postgres"
    assert urlparse(env["SENTIMENT_REDIS_URL"]).hostname == "redis"
    for node in nodes.values():
        assert set(node["depends_on"]) == {"postgres", "redis"}
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
    # nginx balances exactly the compose file's instances, on the port they serve
    upstream = upstream_servers(NGINX_CONF.read_text(encoding="utf-8"))
    assert sorted(upstream) == sorted(f"{name}:{SERVICE_PORT}" for name in nodes)
    for node in nodes.values():
        command = node["command"]
        assert command[command.index("--port") + 1] == str(SERVICE_PORT)
    assert any(volume.endswith(":/etc/nginx/nginx.conf:ro")
               for volume in services["nginx"]["volumes"])


def test_every_setting_the_compose_file_gives_exists():
    fields = set(Settings.model_fields)
    for name, node in instances(compose()).items():
        for key in node["environment"]:
            assert key.startswith("SENTIMENT_"), (name, key)
            assert key.removeprefix("SENTIMENT_").lower() in fields, (name, key)


def test_nginx_config_is_valid(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(local_config([free_port(), free_port()], free_port()), encoding="utf-8")
    result = check(conf, tmp_path)
    if result.returncode != 0 and "not found" in result.stderr:
        pytest.skip("nginx is not installed")
    assert result.returncode == 0, result.stderr


def test_calls_stream_through_nginx_to_both_instances(tmp_path):
    """Websocket upgrades pass nginx, and least_conn gives two concurrent calls one
    instance each (the embedded default: each instance keeps its own store)."""
    servers = [start_server(tmp_path / f"node-{index}") for index in range(2)]
    try:
        with running_nginx([server.port for server in servers], tmp_path) as nginx:
            assert httpx.get(f"{nginx.http}/readyz", timeout=10).status_code == 200
            calls = [
                load_client_call(SCRIPTED_AUDIO / "calm_ru.wav", CustomerChannel.MONO,
                                 f"through-nginx-{index}", f"op-{index}", "ru")
                for index in range(2)
            ]

            async def both():
                return await asyncio.gather(*(
                    stream_call(call, nginx.ws, "native", speed=3.0, follow_feed=False)
                    for call in calls
                ))

            results = asyncio.run(both())
            for result in results:
                assert result.close_code == 1000, (result.close_code, result.close_reason)
                assert result.ingest and result.ingest[0]["type"] == "started"
            stored = {}
            for server in servers:
                listed = httpx.get(f"{server.http}/v1/calls", timeout=10).json()
                stored[server.port] = {call["call_id"] for call in listed["calls"]}
            assert sorted(len(ids) for ids in stored.values()) == [1, 1], stored
            assert set().union(*stored.values()) == {call.call_id for call in calls}
    finally:
        for server in servers:
            server.stop()
