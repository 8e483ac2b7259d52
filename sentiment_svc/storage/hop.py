"""The one typed path from async code to the store: each call runs on the store's own
worker thread, so the event loop never waits on disk and the store sees one thread."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sentiment_svc.storage.base import CallRepository
from sentiment_svc.threads import name_this_thread

P = ParamSpec("P")
T = TypeVar("T")


class StoreHop:
    def __init__(self, store: CallRepository) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(1, "store", initializer=name_this_thread,
                                            initargs=("store",))

    async def __call__(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``await hop(store.get_call, call_id)``: `method` is one of the store's."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(method, *args, **kwargs)
        )

    def close(self) -> None:
        self._executor.submit(self.store.close).result()
        self._executor.shutdown(wait=True)
