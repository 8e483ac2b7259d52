"""Names for the service's OS threads, so `top -H` and the benchmark can say where CPU goes.

Python (before 3.14) does not pass thread names to the kernel. Native libraries start their
own threads (CTranslate2 and torch thread pools) from the thread that first runs them, and a
new thread inherits its creator's kernel name, so naming our workers names theirs too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from collections import Counter
from pathlib import Path

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
