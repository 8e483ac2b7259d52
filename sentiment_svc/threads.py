"""Names and priorities for the service's OS threads.

Python (before 3.14) does not pass thread names to the kernel. Native libraries start their
own threads (CTranslate2 and torch thread pools) from the thread that first runs them, and a
new thread inherits its creator's kernel name, so naming our workers names theirs too, and
`top -H` and the benchmark can say where CPU goes. A new Linux thread inherits its creator's
CPU priority (nice) the same way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
LOWEST_PRIORITY = 19  # nice: the thread runs only on CPU time no other thread wants

_PR_SET_NAME = 15


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


def name_this_thread(name: str) -> None:
    """Best effort: the kernel keeps 15 bytes; elsewhere than Linux nothing happens."""
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def built_at_lowest_priority(name: str, build: Callable[[], T]) -> T:
    """`build()` run in a new thread named `name` at the lowest CPU priority; the native
    threads it starts (CTranslate2's workers and their pool) keep that name and priority
    after it returns, so their work yields the CPU to every other thread's.

    Only native threads may run at that priority: a Python thread there could hold the GIL
    while starved of CPU and stall the event loop and every worker (priority inversion).
    Blocks until `build` returns; its exception is raised here. The pool's one thread ends
    with it, so nothing in Python is left at that priority."""
    with ThreadPoolExecutor(1, name, initializer=_lowest_priority, initargs=(name,)) as pool:
        return pool.submit(build).result()


def _lowest_priority(name: str) -> None:
    name_this_thread(name)
    if sys.platform.startswith("linux"):  # Linux gives each thread its own nice value
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


def single_threaded_numerics() -> None:
    """One thread for numpy's BLAS and torch's intra-op pool, for the whole process.

    The service's parallelism is across calls (the ASR workers), and its numpy and torch
    operations are small (a log-mel projection, e5 heads, Silero VAD). A multi-threaded
    BLAS wakes its threads for each of them, and they spin before they sleep: measured
    (BENCHMARKS.md) a sixth of the recogniser's CPU, and half the event loop group's.
    """
    import threadpoolctl
    import torch

    threadpoolctl.threadpool_limits(1, user_api="blas")
    torch.set_num_threads(1)


def cpu_seconds_by_thread_name(pid: int) -> Counter[str]:
    """User + system CPU seconds of a process's live threads, summed per kernel name."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        totals[name] += (int(fields[11]) + int(fields[12])) / ticks
    return totals
