"""The event bus across instances (``SENTIMENT_REDIS_URL``): one Redis Stream that every
instance appends its calls' messages to and reads the others' from.

Why a Stream and not pub/sub: pub/sub forgets whatever is published while a subscriber is
disconnected, so a Redis restart or a reader's reconnect would silently lose events. A
Stream keeps its entries (trimmed to about `STREAM_MAXLEN`), and each reader resumes with
``XREAD`` from the last id it saw, so a reader that was away gets what it missed. The
writer side keeps a bounded local outbox: while Redis is down, messages wait there (the
oldest go first once it is full, counted) and are appended in order when it returns.
Delivery is at least once; readers drop repeats by (instance, boot, number).

Messages are the typed `domain.messages` values, JSON only here at the Redis edge
(`domain.codec`). A message goes to this instance's own feeds at once (`EventBus`), and to
the stream for the others; an instance skips its own entries when it reads the stream.
Besides feed messages the stream carries console acknowledgements addressed to the
instance that runs the call (`RoutedAck`).

Redis docs: https://redis.io/docs/latest/develop/data-types/streams/ (XADD MAXLEN ~,
XREAD BLOCK with the last id), https://redis.io/docs/latest/develop/interact/pubsub/
(at-most-once delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sentiment_svc.domain.codec import parse_feed_message, to_json
from sentiment_svc.domain.messages import AckRequest, Message
from sentiment_svc.live.bus import DEFAULT_QUEUE, EventBus, Subscription
from sentiment_svc.live.metrics import Metrics

log = logging.getLogger(__name__)
STREAM = "sentiment:events"
STREAM_MAXLEN = 100_000  # entries kept (approximately): minutes of a busy cluster
OUTBOX_MAX = 20_000  # messages kept locally while Redis is down
SEND_BATCH = 200
READ_BLOCK_MS = 1000
READ_COUNT = 500
RETRY_MIN_S = 0.2
RETRY_MAX_S = 2.0
SOCKET_TIMEOUT_S = 10.0  # well over READ_BLOCK_MS, and over a busy machine's stalls
CONNECT_TIMEOUT_S = 1.0
# What says Redis cannot be reached (other errors are bugs: logged, and the loops go on).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
KIND_EVENT = b"event"
KIND_ACK = b"ack"
T = TypeVar("T")


class _Retry:
    """The wait before the next try while Redis cannot be reached: doubling, capped."""

    def __init__(self) -> None:
        self.delay = RETRY_MIN_S

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(RETRY_MAX_S, self.delay * 2)

    def reset(self) -> None:
        self.delay = RETRY_MIN_S


@dataclass(frozen=True)
class RoutedAck:
    """A console's acknowledgement for a call that another instance runs."""

    request: AckRequest
    operator_id: str


def connect(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=10,
    )


def redacted(client: aioredis.Redis) -> str:
    """Where Redis is, for logs: host and port, never the URL (it may hold a password)."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


class RedisLink:
    """Whether Redis answers, as the bus's tasks find out: one log line when it goes down,
    one when it is back, and the `sentiment_redis_up` gauge."""

    def __init__(self, client: aioredis.Redis, metrics: Metrics) -> None:
        self.client = client
        self._metrics = metrics
        self.up = False
        self.up_since = 0.0  # monotonic time Redis last came back (or was first reached)
        self._known = False
        metrics.redis_up.set(0)

    def ok(self) -> None:
        if not self.up:
            self.up, self.up_since = True, time.monotonic()
            self._metrics.redis_up.set(1)
            if self._known:
                log.warning("Redis at %s is reachable again; feeds resume",
                            redacted(self.client))
            self._known = True

    def failed(self, error: BaseException) -> None:
        if self.up or not self._known:
            log.error("Redis at %s is down (%s): calls go on being analysed, events wait in"
                      " the outbox and other instances' feeds pause until it returns",
                      redacted(self.client), type(error).__name__)
        self.up, self._known = False, True
        self._metrics.redis_up.set(0)


class RedisBus:
    """`Bus` over a Redis Stream. `on_remote(origin, message)` sees every message that
    came from another instance (before this instance's feeds get it); `on_ack` the
    acknowledgements addressed to this instance."""

    def __init__(
        self, link: RedisLink, instance_id: str, metrics: Metrics,
        on_remote: Callable[[str, Message], bool] | None = None,
        on_ack: Callable[[RoutedAck], None] | None = None,
    ) -> None:
        self._link = link
        self._redis = link.client
        self.instance_id = instance_id
        self._boot = secrets.token_hex(4)  # tells this run's numbers from a restart's
        self._numbers = itertools.count()
        self._metrics = metrics
        self.local = EventBus(on_drop=metrics.feed_dropped.inc)
        self.on_remote = on_remote
        self.on_ack = on_ack
        self._outbox: deque[dict[bytes, bytes]] = deque()
        self._wake = asyncio.Event()
        self._seen: dict[tuple[bytes, bytes], int] = {}  # (instance, boot) -> last number
        self._tasks: list[asyncio.Task[None]] = []

    # -- Bus --------------------------------------------------------------------------
    def subscribe(
        self, accepts: Callable[[Message], bool], size: int = DEFAULT_QUEUE
    ) -> Subscription:
        return self.local.subscribe(accepts, size)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.local.unsubscribe(subscription)

    def publish(self, message: Message) -> None:
        self.local.publish(message)
        self.send_remote(message)

    # -- to the other instances --------------------------------------------------------
    def send_remote(self, message: Message) -> None:
        """To the other instances only (a live call's state each second)."""
        self._enqueue({b"kind": KIND_EVENT, b"body": to_json(message).encode()})

    def send_ack(self, target: str, ack: RoutedAck) -> None:
        self._enqueue({b"kind": KIND_ACK, b"to": target.encode(),
                       b"op": ack.operator_id.encode(), b"body": to_json(ack.request).encode()})

    def _enqueue(self, fields: dict[bytes, bytes]) -> None:
        fields[b"src"] = self.instance_id.encode()
        fields[b"boot"] = self._boot.encode()
        fields[b"n"] = str(next(self._numbers)).encode()
        if len(self._outbox) >= OUTBOX_MAX:
            self._outbox.popleft()
            self._metrics.bus_outbox_dropped.inc()
        self._outbox.append(fields)
        self._metrics.bus_outbox.set(len(self._outbox))
        self._wake.set()

    @property
    def outbox(self) -> int:
        return len(self._outbox)

    # -- tasks ---------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_forever(), name="redis-bus-send"),
                       asyncio.create_task(self._read_forever(), name="redis-bus-read")]
        for task in self._tasks:
            task.add_done_callback(_report_stop)

    async def close(self, flush_s: float = 2.0) -> None:
        """Send what waits (for up to `flush_s`), then stop."""
        deadline = time.monotonic() + flush_s
        while self._outbox and self._link.up and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _attempt(self, operation: Callable[[], Awaitable[T]], what: str,
                       retry: _Retry) -> T | None:
        """`operation`'s result, or None after it failed and the wait before its retry."""
        try:
            result = await operation()
        except UNREACHABLE as error:
            self._link.failed(error)
            await retry.wait()
            return None
        except Exception:  # Redis refused (out of memory, ...): try again, slowly
            log.exception("Redis refused the bus's %s; retrying", what)
            await asyncio.sleep(RETRY_MAX_S)
            return None
        retry.reset()
        self._link.ok()
        return result

    async def _send_forever(self) -> None:
        retry = _Retry()
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            batch = list(itertools.islice(self._outbox, SEND_BATCH))

            async def append(batch: list[dict[bytes, bytes]] = batch) -> bool:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for fields in batch:
                        pipe.xadd(STREAM, fields, maxlen=STREAM_MAXLEN, approximate=True)
                    await pipe.execute()
                return True

            if await self._attempt(append, "appends", retry) is None:
                continue
            for _ in batch:  # only the sender takes from the left; the outbox may have
                self._outbox.popleft()  # dropped its oldest meanwhile: then fewer are left
                if not self._outbox:
                    break
            self._metrics.bus_outbox.set(len(self._outbox))

    async def _read_forever(self) -> None:
        last: bytes | None = None
        retry = _Retry()
        while True:
            if last is None:  # from the stream's end: what others send from now on
                newest = await self._attempt(
                    lambda: self._redis.xrevrange(STREAM, count=1), "reads", retry)
                if newest is None:
                    continue
                last = newest[0][0] if newest else b"0-0"
            reply = await self._attempt(
                lambda start=last: self._redis.xread({STREAM: start}, count=READ_COUNT,
                                                     block=READ_BLOCK_MS), "reads", retry)
            if reply is None:  # Redis was not reached, or no entry came within the block
                continue
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    last = entry_id
                    try:
                        self._deliver(fields)
                    except Exception:
                        log.exception("a bus entry from Redis could not be read; skipped")

    def _deliver(self, fields: dict[bytes, bytes]) -> None:
        origin = fields.get(b"src", b"")
        if origin == self.instance_id.encode():
            return
        key, number = (origin, fields.get(b"boot", b"")), int(fields.get(b"n", b"-1"))
        if number <= self._seen.get(key, -1):
            return  # a repeat: the writer retried after its reply was lost
        self._seen[key] = number
        if fields.get(b"kind") == KIND_ACK:
            if fields.get(b"to") == self.instance_id.encode() and self.on_ack is not None:
                request = AckRequest.model_validate_json(fields[b"body"])
                self.on_ack(RoutedAck(request, fields[b"op"].decode()))
            return
        message = parse_feed_message(fields[b"body"])
        if self.on_remote is not None and not self.on_remote(origin.decode(), message):
            return  # the cluster keeps it (a call's state), the feeds draw it from there
        self.local.publish(message)


def _report_stop(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception())
