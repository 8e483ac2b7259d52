"""This instance among the others sharing a Redis: heartbeats, the other instances' live
calls, acknowledgements routed to the instance that runs the call, and taking over the
calls of an instance that died.

- Heartbeat: every `HEARTBEAT_EVERY_S` the key ``sentiment:instance:<id>`` is set, with its
  load (live calls, recognition backlog) as the value, to expire after `HEARTBEAT_TTL_S`.
- Reaping: every `REAP_EVERY_S` one instance (whoever takes the ``SET NX`` lock first)
  looks up the instances that the store has live calls for; one without a heartbeat is
  dead and its live calls become ``interrupted`` (`CallStore.mark_instance_interrupted`):
  within `HEARTBEAT_TTL_S + REAP_EVERY_S` (8 s) of its last beat. Right after Redis comes
  back (a restart forgets every key) no one is judged until a whole TTL has passed: every
  living instance has beaten again by then.
- The wall: each instance sends its live calls' state every second to the others
  (`RedisBus.send_remote`); `remote_views` is what the others run, as last heard, and
  `owner_of` tells which instance runs a call (for routing an acknowledgement).

Redis docs: https://redis.io/docs/latest/commands/set/ (EX, NX: the lock pattern).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sentiment_svc.domain.messages import CallEnded, CallView, Message
from sentiment_svc.live.redis_bus import UNREACHABLE, RedisBus, RedisLink

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 2.0
HEARTBEAT_TTL_S = 6.0
REAP_EVERY_S = 2.0
STATE_EVERY_S = 1.0
VIEW_STALE_S = 5.0  # another instance's call not heard of this long leaves the wall
VIEW_FORGET_S = 600.0  # ... and is forgotten (a reaped call is ended on the walls before)
INSTANCE_KEY = "sentiment:instance:{}"
REAPER_LOCK = "sentiment:reaper"


@dataclass
class _RemoteCall:
    instance_id: str
    view: CallView
    heard_at: float  # monotonic


class Cluster:
    """`load()` gives this instance's heartbeat value; `local_views()` its live calls'
    states; `live_instances()`/`mark_interrupted(id)` reach the store (off the loop)."""

    def __init__(
        self, link: RedisLink, bus: RedisBus, instance_id: str, *,
        load: Callable[[], dict[str, float]],
        local_views: Callable[[], list[CallView]],
        live_instances: Callable[[], Awaitable[list[str]]],
        mark_interrupted: Callable[[str], Awaitable[list[str]]],
    ) -> None:
        self.link = link
        self.bus = bus
        self.instance_id = instance_id
        self._load = load
        self._local_views = local_views
        self._live_instances = live_instances
        self._mark_interrupted = mark_interrupted
        self._remote: dict[str, _RemoteCall] = {}
        self._tasks: list[asyncio.Task[None]] = []
        bus.on_remote = self.heard

    # -- the other instances' calls ------------------------------------------------------
    def heard(self, origin: str, message: Message) -> bool:
        """A message from another instance: remember its calls; False for a call's state
        (the feeds draw those from `remote_views` each second, not from the bus)."""
        if isinstance(message, CallEnded):
            self._remote.pop(message.call_id or "", None)
        elif isinstance(message, CallView) and message.call_id:
            self._remote[message.call_id] = _RemoteCall(origin, message, time.monotonic())
            return message.type != "call_state"
        return True

    def remote_views(self) -> list[CallView]:
        """The other instances' calls heard of lately. A stale one leaves the wall but is
        kept a while longer: if its instance died, the reaper still ends it on every wall."""
        now = time.monotonic()
        for call_id, remote in list(self._remote.items()):
            if now - remote.heard_at > VIEW_FORGET_S:
                del self._remote[call_id]
        return [remote.view for remote in self._remote.values()
                if now - remote.heard_at <= VIEW_STALE_S]

    def owner_of(self, call_id: str) -> str | None:
        remote = self._remote.get(call_id)
        if remote is None or time.monotonic() - remote.heard_at > VIEW_STALE_S:
            return None
        return remote.instance_id

    async def is_alive(self, instance_id: str) -> bool:
        """Whether an instance's heartbeat is there (False also while Redis is down)."""
        try:
            return bool(await self.link.client.exists(INSTANCE_KEY.format(instance_id)))
        except UNREACHABLE:
            return False

    # -- tasks ---------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [asyncio.create_task(loop()) for loop in
                       (self._beat_forever, self._reap_forever, self._send_states_forever)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(*UNREACHABLE):  # leave at once, not after the TTL
            await self.link.client.delete(INSTANCE_KEY.format(self.instance_id))

    async def _beat_forever(self) -> None:
        key = INSTANCE_KEY.format(self.instance_id)
        while True:
            try:
                await self.link.client.set(key, json.dumps(self._load()),
                                            px=int(HEARTBEAT_TTL_S * 1000))
                self.link.ok()
            except UNREACHABLE as error:
                self.link.failed(error)
            except Exception:
                log.exception("the heartbeat failed; trying again")
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    async def _send_states_forever(self) -> None:
        while True:
            await asyncio.sleep(STATE_EVERY_S)
            for view in self._local_views():
                self.bus.send_remote(view)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY_S)
            try:
                await self.reap()
            except UNREACHABLE as error:
                self.link.failed(error)
            except Exception:
                log.exception("looking for dead instances failed; trying again")

    async def reap(self) -> list[str]:
        """If this instance holds the reaper lock: the live calls of instances without a
        heartbeat become interrupted. Returns those call ids."""
        if not self.link.up or time.monotonic() - self.link.up_since < HEARTBEAT_TTL_S:
            return []  # Redis just (re)started: the living have not all beaten yet
        locked = await self.link.client.set(REAPER_LOCK, self.instance_id, nx=True,
                                            px=int(REAP_EVERY_S * 1000 * 0.9))
        if not locked:
            return []
        reaped: list[str] = []
        for instance_id in await self._live_instances():
            if instance_id == self.instance_id or await self.is_alive(instance_id):
                continue
            call_ids = await self._mark_interrupted(instance_id)
            if call_ids:
                log.warning("instance %s stopped beating: its %d live calls are marked"
                            " interrupted", instance_id, len(call_ids))
            for call_id in call_ids:
                self._end_remote(call_id)
            reaped += call_ids
        return reaped

    def _end_remote(self, call_id: str) -> None:
        """Tell every wall that a dead instance's call is over."""
        remote = self._remote.pop(call_id, None)
        if remote is None:
            return
        fields = remote.view.model_dump(exclude={"type"})
        self.bus.publish(CallEnded(**fields, status="interrupted"))
