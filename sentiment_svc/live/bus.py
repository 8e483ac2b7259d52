"""In-process publish/subscribe of calls' messages to feeds, with bounded per-subscriber queues.

A subscriber that stops reading never slows ingest or other subscribers: its queue is
bounded and, when full, the oldest event is dropped (and counted) to make room.

`Bus` is what the service and the feeds need of a bus: `EventBus` (this process only, the
default) and `live.redis_bus.RedisBus` (every instance sharing a Redis) both are one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sentiment_svc.domain.messages import Message

DEFAULT_QUEUE = 1000


@dataclass(eq=False)
class Subscription:
    accepts: Callable[[Message], bool]
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE))
    dropped: int = 0

    async def get(self) -> Message:
        return await self.queue.get()


class Bus(Protocol):
    def subscribe(
        self, accepts: Callable[[Message], bool], size: int = DEFAULT_QUEUE
    ) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def publish(self, message: Message) -> None: ...


class EventBus:
    def __init__(self, on_drop: Callable[[], None] | None = None) -> None:
        self._subscriptions: set[Subscription] = set()
        self._on_drop = on_drop

    def subscribe(
        self, accepts: Callable[[Message], bool], size: int = DEFAULT_QUEUE
    ) -> Subscription:
        subscription = Subscription(accepts, asyncio.Queue(size))
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, message: Message) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.accepts(message):
                continue
            if subscription.queue.full():
                subscription.queue.get_nowait()
                subscription.dropped += 1
                if self._on_drop is not None:
                    self._on_drop()
            subscription.queue.put_nowait(message)
