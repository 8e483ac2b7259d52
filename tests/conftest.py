"""Shared fixtures: the real bundled models, loaded once per test session."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from types import ModuleType

import pytest

# A real PostgreSQL on loopback for the store tests (`postgres_server`, `pg_url`), and the
# call store on both backends, parametrised (`backend`, `make_store`).
from tests.pg_server import pg_url, postgres_server  # noqa: F401 (fixtures)
from tests.stores import backend, make_store  # noqa: F401 (fixtures)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
# The service reads its models from ./models; the tests (and the services and CLI processes
# they start) find the checkout's wherever pytest runs from.
os.environ.setdefault("SENTIMENT_MODELS_DIR", str(ROOT / "models"))
REAL_AUDIO = ROOT / "audio_samples" / "real"
SCRIPTED_AUDIO = ROOT / "audio_samples" / "scripted"
ANGRY_CALL = REAL_AUDIO / "tinkoff_voicekit_examples" / "negative_sample_8k.wav"
CALM_CALL = REAL_AUDIO / "t-one_demo" / "audio_long.flac"


# Test tiers: `models` tests need the assembled models (they load them, or start a service
# or CLI process that does), `browser` tests drive Chromium, `slow` ones take most of a
# minute of CPU alone; `make test-fast` runs the rest. Marked here, so that a new test is
# placed by what it uses: the fixtures below, or the helpers of tests/live_server.py and
# tests/browser.py.
MODEL_FIXTURES = {"settings", "engines"}
HELPER_MARKS = {"tests.live_server": "models", "tests.browser": "browser"}
MODULE_MARKS = {
    # models loaded another way: `sentiment-svc` subprocesses, an e5 conversion
    "tests.test_cli": "models", "tests.test_crash": "models", "tests.test_e5_conversion": "models",
    "tests.test_asterisk_live": "models",
    "tests.test_cluster_live": "models",  # two `serve` processes sharing a Redis
    "tests.test_cluster_nginx": "slow",  # three `serve` on PostgreSQL and Redis, nginx
    "tests.test_text_model_export": "models",  # exports the fine-tuned model to ONNX
    "tests.test_audiohook_conformance": "models",  # a `serve` process and the reference client
    "tests.test_protocols_fuzz": "slow",  # ~9,000 hypothesis examples, ~45 CPU-s
    "tests.test_rest_fuzz": "slow",  # a few thousand HTTP requests from the OpenAPI schema
    "tests.test_protocols_asterisk_fuzz": "slow",  # ~4,400 examples, >10,000 messages each
    "tests.test_scripted_calls_v2": "slow",  # 30 stereo calls through Whisper (and `models`)
}


def _module_marks(module: ModuleType) -> set[str]:
    """The marks a whole test module gets: its own entry, and those of the helpers it uses."""
    marks = {MODULE_MARKS[module.__name__]} if module.__name__ in MODULE_MARKS else set()
    for value in vars(module).values():
        source = value.__name__ if isinstance(value, ModuleType) else getattr(
            value, "__module__", None)
        if source in HELPER_MARKS:
            marks.add(HELPER_MARKS[source])
    return marks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    by_module: dict[ModuleType, set[str]] = {}
    for item in items:
        module = getattr(item, "module", None)
        marks = set()
        if module is not None:
            if module not in by_module:
                by_module[module] = _module_marks(module)
            marks |= by_module[module]
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            marks.add("models")
        for mark in sorted(marks):
            item.add_marker(getattr(pytest.mark, mark))


def real_prompts(language: str) -> list[tuple[Path, str]]:
    with (REAL_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        (REAL_AUDIO / row["path"], row["transcript"])
        for row in rows
        if row["path"].startswith(f"asterisk_core_sounds_{language}/")
    ]


@pytest.fixture(scope="session", autouse=True)
def numerics_as_in_the_service():
    """In-process tests compute with the service's thread settings, whatever ran first: a
    BLAS split over more threads rounds differently, and borderline decodes follow it."""
    from sentiment_svc.threads import single_threaded_numerics

    single_threaded_numerics()


@pytest.fixture(scope="session")
def settings():
    from sentiment_svc.config import Settings

    return Settings()


@pytest.fixture(scope="session")
def engines(settings):
    from sentiment_svc.pipeline import Engines

    return Engines.load(settings)


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `redis-server` on a free loopback port (`tests.redis_server`); a test may
    stop and start it (a Redis restart)."""
    from tests.redis_server import RedisServer, redis_available

    if not redis_available():
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
