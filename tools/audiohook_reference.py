"""Runs Genesys' AudioHook reference client (``shared/peers/audiohook-reference``) and reads
its log: what the conformance tests and the AudioHook benchmark share.

The client logs through pino-pretty, in colour, under a pseudo-terminal: records start with
``[HH:MM:SS.mmm] LEVEL: message`` (the message may run over several lines, JSON included) and
may be followed by an indented ``session: "<id>"`` line. `parse_log` turns that back into
records; `events` finds the ``event`` messages the server sent, `request_headers` the headers
of each signed upgrade.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get(
    "AUDIOHOOK_REFERENCE_DIR", ROOT.parent / "shared" / "peers" / "audiohook-reference"))
RUN_CLIENT = REFERENCE / "run-client.sh"
FIRST_RUN_S = 600.0  # the first run installs the client's npm dependencies into a cache
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RECORD = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\.(\d{3})\] ([A-Z]+): ?(.*)$")
SESSION = re.compile(r'^\s+session: "([0-9a-f-]+)"$')


@dataclass(frozen=True)
class Record:
    t: float  # seconds since midnight, local time (the client's clock)
    level: str  # INFO, WARN, ERROR, ...
    message: str
    session: str | None


@dataclass(frozen=True)
class ClientRun:
    returncode: int
    log: str
    records: list[Record]

    def messages(self, needle: str) -> list[Record]:
        return [r for r in self.records if needle in r.message]

    @property
    def problems(self) -> list[Record]:
        """Warnings and errors the client logged."""
        return [r for r in self.records if r.level not in ("INFO", "DEBUG", "TRACE")]


def missing() -> str | None:
    """Why the reference client cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed: Genesys' AudioHook reference client needs Node.js"
    if not RUN_CLIENT.is_file():
        return f"the AudioHook reference client is not at {REFERENCE}"
    return None


def run_client(uri: str, wavfile: Path, *, api_key: str | None = None,
               client_secret: str | None = None, session_count: int = 1,
               custom_config: dict[str, Any] | None = None,
               max_stream_s: float | None = None, connection_rate: float | None = None,
               timeout_s: float = FIRST_RUN_S) -> ClientRun:
    args = ["bash", str(RUN_CLIENT), "--uri", uri, "--wavfile", str(wavfile)]
    if api_key is not None:
        args += ["--api-key", api_key]
    if client_secret is not None:
        args += ["--client-secret", client_secret]
    if session_count != 1:
        args += ["--session-count", str(session_count)]
    if custom_config:
        args += ["--custom-config", json.dumps(custom_config)]
    if max_stream_s is not None:
        args += ["--max-stream-duration", f"{max_stream_s:g}"]
    if connection_rate is not None:
        args += ["--connection-rate", f"{connection_rate:g}"]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
    log = done.stdout.decode("utf-8", "replace")
    return ClientRun(done.returncode, log, parse_log(log))


def parse_log(text: str) -> list[Record]:
    records: list[Record] = []
    current: dict[str, Any] | None = None

    def flush() -> None:
        if current is not None:
            records.append(Record(current["t"], current["level"],
                                  "\n".join(current["lines"]).rstrip(), current["session"]))

    for raw in ANSI.sub("", text).replace("\r", "").split("\n"):
        at = raw.find("[")  # npx's spinner may stand before the first record
        line = raw[at:] if at > 0 and RECORD.match(raw[at:]) else raw
        head = RECORD.match(line)
        if head:
            flush()
            hours, minutes, seconds, millis = (int(g) for g in head.groups()[:4])
            current = {"t": hours * 3600 + minutes * 60 + seconds + millis / 1000,
                       "level": head.group(5), "lines": [head.group(6)], "session": None}
        elif current is not None and (session := SESSION.match(line)):
            current["session"] = session.group(1)
        elif current is not None:
            current["lines"].append(line)
    flush()
    return records


def _json_after(message: str, prefix: str) -> Any:
    start = message.index(prefix) + len(prefix)
    value, _ = json.JSONDecoder().raw_decode(message[start:].lstrip())
    return value


def events(run: ClientRun) -> list[tuple[Record, dict[str, Any]]]:
    """Each ``event`` message's parameters, with the record that logged it."""
    return [(r, _json_after(r.message, "Event message:")) for r in run.messages("Event message:")]


def request_headers(run: ClientRun) -> list[dict[str, str]]:
    """The headers of each upgrade request the client made, as it logged them."""
    return [_json_after(r.message, "Request headers:") for r in run.messages("Request headers:")]
