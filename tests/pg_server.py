"""A real PostgreSQL server on a loopback port for the tests: `initdb` + `postgres` in a temp
directory, run as the ``postgres`` system user when the tests run as root (PostgreSQL refuses
root; the child switches user itself, like ``runuser``, so that stop signals reach the
server), trust authentication on 127.0.0.1 only.

Fixtures: `postgres_server` (session: one server, its admin URL) and `pg_url` (a fresh,
empty database on it for each test). ``python -m tests.pg_server`` starts one (fsync on)
with an empty database and prints its URL until interrupted, e.g. for
``SENTIMENT_DATABASE_URL=<url> python -m tools.bench``. The fixtures are skipped, with the
reason, only where the PostgreSQL binaries are missing; `.ci/run` installs them, so in CI
these tests run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 30.0
SERVER_USER = "postgres"  # the system user that runs the server when we are root


def binaries_dir() -> Path | None:
    """Where initdb and postgres are: $PG_BINDIR, Debian's versioned dir, or $PATH."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (
                Path(candidate) / "postgres").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    directory: Path  # the server's own (data/, server.log, the Unix socket)
    port: int
    process: subprocess.Popen[bytes] | None = None
    fsync: bool = False  # off for the tests (nothing to keep); on to measure like production

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def shut_down(self) -> None:
        """PostgreSQL's "fast" shutdown (SIGINT): open sessions are ended, not waited for."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Shut down and start again on the same data and port (clients lose their
        connections, as in a database failover or upgrade)."""
        self.shut_down()
        self.launch()

    def launch(self) -> None:
        """Start `postgres` on the data directory and wait until it takes connections."""
        import psycopg

        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 (the server's)
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.directory / "data"), "-p",
             str(self.port), "-h", "127.0.0.1", "-k", str(self.directory),
             "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, **_as_server_user(),
        )
        log.close()  # the child has its own descriptor
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(psycopg.OperationalError):
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.directory / "server.log").read_text()[-2000:]
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start: {tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.shut_down()
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_server_user() -> dict[str, object]:
    """Popen's arguments that run a child as the server user when we are root. Not through
    `runuser`: the signals that stop the server must reach `postgres` itself."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(SERVER_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": user.pw_dir, "USER": SERVER_USER}}


def start_postgres(bindir: Path, *, fsync: bool = False) -> PostgresServer:
    directory = Path(tempfile.mkdtemp(prefix="sentiment-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = directory / "data"
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--no-locale", "--no-sync"],
        check=True, capture_output=True, cwd=directory, **_as_server_user(),
    )
    server = PostgresServer(bindir, directory, free_port(), fsync=fsync)
    server.launch()
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = binaries_dir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, postgres) are not installed")
    server = start_postgres(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


if __name__ == "__main__":
    found = binaries_dir()
    if found is None:
        raise SystemExit("PostgreSQL binaries (initdb, postgres) are not installed")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop on TERM as on Ctrl-C
    running = start_postgres(found, fsync=True)
    try:
        print(running.create_database(), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
