"""The call store on either backend for the tests that run on both: the fixtures `backend`
(sqlite, postgres) and `make_store` (opens a store on this test's data: a SQLite
directory, or a fresh PostgreSQL database from `tests.pg_server`), which conftest.py
provides to every module, and `count_rows` (read beside the store, in its own database).
A module's ``store`` fixture is then ``make_store()`` (test_storage.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.db import CallStore
from sentiment_svc.storage.postgres import PgCallStore

MakeStore = Callable[..., CallRepository]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[MakeStore]:
    """Opens a store on this test's database (a SQLite file, or a fresh PostgreSQL
    database): each call a new store object on the same data, as after a restart or as a
    second instance. Keyword arguments (``webhooks=``) go to the store."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    opened: list[CallRepository] = []

    def make(**kwargs: Any) -> CallRepository:
        store = PgCallStore(url, **kwargs) if url else CallStore(tmp_path / "data", **kwargs)
        opened.append(store)
        return store

    make.url = url  # type: ignore[attr-defined]
    yield make
    for store in opened:
        store.close()


def count_rows(store: CallRepository, table: str, where: str = "") -> int:
    """Rows of `table` in the store's own database, read beside the store."""
    if isinstance(store, PgCallStore):
        import psycopg

        with psycopg.connect(store.url) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0]
    db = sqlite3.connect(store.data_dir / "calls.sqlite3")
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0]
    finally:
        db.close()
