"""The one typed path from async code to the store: each call runs on the store's own
worker thread, so the event loop never waits on disk and the store sees one thread.

A store shared over the network (PostgreSQL) can be briefly unreachable: a restart, a
failover. A call failing with one of the store's `transient_errors` is tried again, in
order (one thread: later calls wait behind it), for up to `retry_for_s`, so a live call's
utterances and alerts are stored late rather than lost; one log line says the store is down
and one that it is back, and `on_state` (the `sentiment_store_up` gauge) follows.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sentiment_svc.storage.base import CallRepository
from sentiment_svc.threads import name_this_thread

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_FOR_S = 60.0  # a database restart or failover takes seconds
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0


class StoreHop:
    def __init__(self, store: CallRepository, *, retry_for_s: float = RETRY_FOR_S,
                 on_state: Callable[[bool], None] | None = None) -> None:
        self.store = store
        self.retry_for_s = retry_for_s
        self._transient: tuple[type[BaseException], ...] = getattr(
            store, "transient_errors", ())
        self._on_state = on_state
        self._down_since: float | None = None
        self._executor = ThreadPoolExecutor(1, "store", initializer=name_this_thread,
                                            initargs=("store",))

    async def __call__(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``await hop(store.get_call, call_id)``: `method` is one of the store's."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._retrying, functools.partial(method, *args, **kwargs)
        )

    def _retrying(self, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_for_s
        delay = RETRY_FIRST_S
        while True:
            try:
                result = call()
            except self._transient as error:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.error("the store is unreachable (%s); retrying for up to %.0f s",
                              str(error).strip().splitlines()[0] if str(error).strip()
                              else type(error).__name__, self.retry_for_s)
                    if self._on_state is not None:
                        self._on_state(False)
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)
                continue
            if self._down_since is not None:
                log.warning("the store is reachable again after %.1f s",
                            time.monotonic() - self._down_since)
                self._down_since = None
                if self._on_state is not None:
                    self._on_state(True)
            return result

    def close(self) -> None:
        self._executor.submit(self.store.close).result()
        self._executor.shutdown(wait=True)
