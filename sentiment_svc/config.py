"""Service settings: one typed object, read from the environment (SENTIMENT_*) and flags."""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiment_svc.alerts.policy import DEFAULT_POLICY


class TextModelChoice(StrEnum):
    """Which text analysis runs: e5 + the logistic sentiment head, or the fine-tuned model."""

    HEAD = "head"
    TUNED = "tuned"  # models/e5-small-tuned (issue 23; BENCHMARKS.md)


class Settings(BaseSettings):
    # `none` sets an optional setting to None (e.g. SENTIMENT_MAX_BACKLOG_S=none: no limit).
    model_config = SettingsConfigDict(
        env_prefix="SENTIMENT_", frozen=True, env_parse_none_str="none"
    )

    # Where the weights `make install` assembles are read from; like `data_dir`, relative to
    # the working directory (a checkout's root: `make run`), not to the installed package.
    models_dir: Path = Path("models")
    # A local CTranslate2 Whisper directory. Default: the bundled Whisper base restricted to
    # Russian and Ukrainian tokens (`sentiment-svc restrict-vocab`, built by `make install`):
    # the same accuracy, a third less recognition CPU (BENCHMARKS.md). The full model is
    # `models/whisper-base`.
    whisper_model: Path | None = None
    e5_model: Path | None = None  # a local transformers multilingual-e5 directory
    # "tuned": the fine-tuned e5 with its own heads (built by `make install`); opt-in until
    # the whole suite's expectations are moved to it (README "Models").
    text_model: TextModelChoice = TextModelChoice.HEAD
    # With the tuned model: how many of the call's latest words (tokens, 0..48) are read with
    # each customer utterance. All 48 by default: about a point better on the held-out set,
    # and since the tuned model reads only the customer's turns, a whole call still costs less
    # text CPU than today's analysis (0.89x; BENCHMARKS.md "Call context, live"). 0: none.
    text_context_tokens: int = Field(default=48, ge=0, le=48)
    policy_file: Path = DEFAULT_POLICY
    lexicon_file: Path | None = None  # None: the bundled lexicon
    # Recognition workers (batches decoded at the same time) and threads each. One
    # single-threaded worker per core gave the most speech per CPU-second here (BENCHMARKS.md).
    asr_workers: int = 0  # 0: one per core
    asr_threads: int = 0  # 0: the cores shared out between the workers
    # Interim transcripts of long customer utterances re-decode the audio so far: shown only
    # while at most this many calls are live (0: never), and never while finals wait.
    partials_max_calls: int = 4
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")  # SQLite database and recordings
    # postgresql://user:password@host:port/db: the call store and the recordings go to
    # PostgreSQL, shared by every instance (README "PostgreSQL"); None: SQLite in data_dir.
    database_url: str | None = None
    # This instance's name in a cluster (stored with the calls it runs); None: hostname-pid.
    instance_id: str | None = None
    config_file: Path | None = None  # YAML with access tokens
    allowed_origins: tuple[str, ...] = ()  # browser origins besides the service's own
    # Host names requests may be addressed to (Starlette's patterns: "a.example",
    # "*.example", "*"). None: the loopback names while no tokens are configured (a page on
    # another name that resolves to 127.0.0.1 must not reach an open service), any name
    # once tokens are (they guard it, and a balancer's name need not be listed).
    allowed_hosts: tuple[str, ...] | None = None
    mask_personal_data: bool = True  # 152-FZ: mask before anything is stored or pushed
    # The key of the hash a caller's phone number is stored as (live.customer_ids). Unset:
    # one is made in the data directory; instances sharing customers must share this.
    customer_id_secret: str | None = None
    pii_config_file: Path | None = None  # YAML: which kinds to mask, label or stars
    audio_retention_days: float | None = 90.0  # recordings older than this are deleted
    transcript_retention_days: float | None = 365.0  # whole calls older than this
    ingest_idle_timeout_s: float = 30.0  # an ingest socket silent this long is closed
    # A text contact (chat, messenger, e-mail) with no message for this long is ended, as a
    # call ends at a hang-up; so is a live chat whose websocket closes.
    contact_idle_timeout_s: float = 1800.0
    header_timeout_s: float = 10.0  # a request header must arrive whole within this
    max_live_calls: int = 500  # in total; more are refused with close code 1013
    max_calls_per_token: int = 200  # live calls one ingest token may hold
    # Admission by load (live.admission): a new call is refused (1013) while the recognition
    # backlog (the seconds the queued live utterances need, per worker) is over
    # max_backlog_s, or while the live calls and it would keep the recognition workers
    # busy for more than max_recognizer_load of their time, at the demand per call learnt
    # from the calls served (None: no such limit).
    max_backlog_s: float | None = 3.0
    max_recognizer_load: float | None = 0.5
    # redis://host:6379/0: the event bus and heartbeats shared by a cluster's instances
    # (README "Redis"); None: the bus stays in the process.
    redis_url: str | None = None
    # QA replays count against max_live_calls, are recognised by a Whisper model of their
    # own at the lowest CPU priority (never on a live worker), and are refused while live
    # calls wait for recognition.
    max_replays: int = 4  # at once, in total
    max_replays_per_token: int = 2
    # Asterisk AudioSocket over raw TCP (web.audiosocket): off unless a port is set. The
    # port takes customer legs (whole calls, heard as the customer, without an operator
    # port); the operator port takes operator legs, joined with the customer leg of the
    # same UUID. No credentials exist in AudioSocket: bind a private interface and list
    # the PBX's addresses (or networks) in `audiosocket_allow`; other peers are refused.
    audiosocket_port: int | None = None
    audiosocket_operator_port: int | None = None
    audiosocket_host: str = "127.0.0.1"
    audiosocket_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    # CRM webhooks (the ``webhooks:`` targets of `config_file`, `sentiment_svc.crm`): a failed
    # delivery is retried after webhook_backoff_s, doubling up to webhook_backoff_max_s (each
    # wait jittered down by up to half), for as long as it takes; nothing is dropped.
    webhook_backoff_s: float = 1.0
    webhook_backoff_max_s: float = 300.0
    webhook_timeout_s: float = 10.0  # one request, connection to answer
    webhook_poll_s: float = 0.5  # how often the outbox is looked at when idle

    @property
    def instance_name(self) -> str:
        """`instance_id`, or this host's name and process id."""
        return self.instance_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def whisper_dir(self) -> Path:
        return self.whisper_model or self.models_dir / "whisper-base-ru-uk"

    @property
    def e5_dir(self) -> Path:
        return self.e5_model or self.models_dir / "e5-small"

    @property
    def tuned_text_dir(self) -> Path:
        return self.models_dir / "e5-small-tuned"

    def asr_layout(self) -> tuple[int, int]:
        """(workers, threads per worker) with the automatic values resolved."""
        cores = usable_cores()
        workers = self.asr_workers or cores
        return workers, self.asr_threads or max(1, cores // workers)


def usable_cores() -> int:
    """The cores this process may run on (an instance pinned with taskset or a container's
    cpuset sizes its workers to those, not to the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
