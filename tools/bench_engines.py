"""Throwaway shared engines for a benchmark: a PostgreSQL (fsync on, as in production) and a
Redis on loopback, started from the Debian binaries the tests use, removed afterwards."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def local_engines() -> Iterator[tuple[str, str]]:
    """(database URL, Redis URL) of a fresh PostgreSQL database and Redis, for the block."""
    # Imported here: the tests' servers import tools.bench, which imports this module.
    from tests.pg_server import binaries_dir, start_postgres
    from tests.redis_server import RedisServer

    bindir = binaries_dir()
    if bindir is None:
        raise SystemExit("PostgreSQL's binaries (initdb, postgres) are not installed")
    postgres = start_postgres(bindir, fsync=True)
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="sentiment-redis-")))
    try:
        redis.start()
        yield postgres.create_database(), redis.url
    finally:
        redis.stop()
        postgres.stop()
