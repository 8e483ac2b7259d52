"""nginx from Debian's package on loopback, running the repository's `deploy/nginx.conf`
with its upstream servers and listen port rewritten to local ones."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live_server import Loopback
from tools.bench import free_port

REPO = Path(__file__).resolve().parents[1]
NGINX_CONF = REPO / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
_UPSTREAM_SERVER = re.compile(r"^(\s*)server\s+[\w.-]+:\d+(\s[^;]*)?;", re.MULTILINE)
_LISTEN = re.compile(r"^(\s*)listen\s+\d+;", re.MULTILINE)


def upstream_servers(conf: str) -> list[str]:
    """The `host:port` of every server in the config's upstream block."""
    return [line.split()[1] for line in conf.splitlines()
            if line.strip().startswith("server ") and ":" in line.split()[1]]


def local_config(ports: Sequence[int], listen: int, conf: str | None = None) -> str:
    """`deploy/nginx.conf` with its upstream servers on 127.0.0.1:`ports`, listening on
    127.0.0.1:`listen`; every other line as committed."""
    conf = NGINX_CONF.read_text(encoding="utf-8") if conf is None else conf
    servers = list(_UPSTREAM_SERVER.finditer(conf))
    assert servers, "deploy/nginx.conf has no upstream servers"
    indent, options = servers[0].group(1), servers[0].group(2) or ""
    replacement = "".join(f"{indent}server 127.0.0.1:{port}{options};\n" for port in ports)
    start, end = servers[0].start(), servers[-1].end()
    conf = conf[:start] + replacement.rstrip("\n") + conf[end:]
    conf, count = _LISTEN.subn(rf"\g<1>listen 127.0.0.1:{listen};", conf)
    assert count == 1
    return conf


def check(conf_path: Path, prefix: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf_path),
         "-g", f"pid {prefix / 'nginx.pid'};"],
        capture_output=True, text=True, timeout=30,
    )


@dataclass
class Nginx(Loopback):
    process: subprocess.Popen
    port: int
    prefix: Path

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running_nginx(ports: Sequence[int], workdir: Path) -> Iterator[Nginx]:
    """nginx in the foreground (`daemon off`) in front of the loopback `ports`."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    prefix = workdir / "nginx"
    for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = local_config(ports, port)
    # Temp paths inside the prefix: the compiled-in /var/lib/nginx may not be writable.
    local_paths = "".join(
        f"    {name}_temp_path {prefix / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    ) + f"    access_log {prefix / 'access.log'};\n"
    conf = conf.replace("http {\n", "http {\n" + local_paths, 1)
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf, encoding="utf-8")
    checked = check(conf_path, prefix)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf_path),
         "-g", f"daemon off; pid {prefix / 'nginx.pid'};"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    nginx = Nginx(process, port, prefix)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{nginx.http}/healthz", timeout=2)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {nginx.error_log()[-2000:]}")
            time.sleep(0.1)
        yield nginx
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
