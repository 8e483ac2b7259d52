"""Shared fixtures: the real bundled models, loaded once per test session."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
# The service reads its models from ./models; the tests (and the services and CLI processes
# they start) find the checkout's wherever pytest runs from.
os.environ.setdefault("SENTIMENT_MODELS_DIR", str(ROOT / "models"))
REAL_AUDIO = ROOT / "audio_samples" / "real"
SCRIPTED_AUDIO = ROOT / "audio_samples" / "scripted"
ANGRY_CALL = REAL_AUDIO / "tinkoff_voicekit_examples" / "negative_sample_8k.wav"
CALM_CALL = REAL_AUDIO / "t-one_demo" / "audio_long.flac"


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
