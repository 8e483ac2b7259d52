"""Schema migrations of the PostgreSQL call store: versioned plain SQL files, applied at start.

``pg_migrations/NNNN_name.sql`` are applied in order, each once, all of them inside one
transaction that first takes a transaction-scoped advisory lock (``pg_advisory_xact_lock``):
instances starting together queue on the lock, and the second one finds the versions the
first applied in ``schema_migrations`` and applies nothing. A failing script rolls the whole
start back (PostgreSQL's DDL is transactional), so a database is never half upgraded.

Why plain SQL and not Alembic: the schema is a handful of tables written by hand, with no
ORM models for Alembic to compare against; Alembic would add SQLAlchemy (a large dependency
used nowhere else) to run the same CREATE/ALTER statements. Plain files keep each version
readable as the DDL a DBA reviews, and the runner below is the whole mechanism (PostgreSQL
documentation, "Advisory Locks" and "Transactional DDL").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from sentiment_svc.storage.errors import StoreError

# pg_advisory_xact_lock's key: any bigint the other users of the database do not take;
# this one is "sentimnt" read as ASCII.
MIGRATION_LOCK_KEY = int.from_bytes(b"sentimnt", "big") & 0x7FFF_FFFF_FFFF_FFFF
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


class SchemaError(StoreError):
    """The database cannot be used by this version of sentiment-svc."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migrations shipped with the package, by version."""
    found = []
    for entry in resources.files("sentiment_svc.storage").joinpath("pg_migrations").iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"migration versions must be 1, 2, 3...: {versions}")
    return found


def migrate(conn: psycopg.Connection) -> list[int]:
    """Bring the schema up to date; return the versions applied now ([] if none were due).

    `conn` must not be inside a transaction: the upgrade is one transaction of its own.
    """
    known = migrations()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        newest = known[-1].version if known else 0
        if applied and max(applied) > newest:
            raise SchemaError(
                f"the database has schema version {max(applied)}, newer than this "
                f"sentiment-svc understands ({newest}); upgrade sentiment-svc"
            )
        done = []
        for migration in known:
            if migration.version in applied:
                continue
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            done.append(migration.version)
    return done
