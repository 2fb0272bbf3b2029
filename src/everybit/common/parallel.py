"""Block pipelines on shared thread pools: what every block-parallel codec of everybit needs.

Codecs whose C core releases the GIL (ulz, bpez) compress or decompress independent blocks on threads.
``Pipeline`` runs those jobs on a long-lived pool (one per thread count, shared by every caller and
recreated after ``fork``), keeps at most ``depth`` x threads in flight (2 by default) so memory stays
bounded, and hands the results back in submission order, so the output never depends on the thread count.
"""

from __future__ import annotations

import operator
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Pipeline", "available_cores", "resolve_threads"]


def available_cores() -> int:
    """The CPU cores this process may run on (what ``threads=0`` means)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(threads: int) -> int:
    """The thread count to use for ``threads``: itself if > 0, every core if 0; ``ValueError`` if < 0."""
    threads = operator.index(threads)
    if threads < 0:
        raise ValueError(f"threads must be >= 0 (0 = all cores), not {threads}")
    return threads or available_cores()


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
# A forked child has none of the parent's threads: it must start its own pools.
os.register_at_fork(after_in_child=_pools.clear)


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count: starting threads on every call would cost more than
    compressing a small input."""
    with _pools_lock:
        if threads not in _pools:
            from concurrent.futures import ThreadPoolExecutor  # ~2 ms: only once threads are used

            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix=f"everybit{threads}")
        return _pools[threads]


class Pipeline:
    """Runs jobs on a shared pool, at most ``depth`` x threads in flight, and returns results in submission
    order.

    ``depth`` 2 keeps a queued job ready for every thread even when job times vary; 1 still keeps the
    threads busy whenever the caller's own work per job is shorter than a job, and holds fewer inputs
    (bpez's blocks are large and slow). With one thread the jobs run inline, so errors surface in order
    there too. A job's exception is raised when its result falls due, that is after every earlier job's.
    """

    def __init__(self, threads: int, depth: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"a pipeline needs at least 1 thread, not {threads} (see resolve_threads)")
        if depth < 1:
            raise ValueError(f"a pipeline needs a depth of at least 1, not {depth}")
        self.threads = threads
        self.limit = depth * threads
        self._pool = _pool(threads) if threads > 1 else None
        self._jobs: deque[Future[Any]] = deque()

    @property
    def pooled(self) -> bool:
        """True when jobs run on other threads (so buffers they read must not change meanwhile)."""
        return self._pool is not None

    def __len__(self) -> int:
        return len(self._jobs)

    def submit(self, fn: Callable[..., Any], *args: Any) -> list[Any]:
        """Start ``fn(*args)``; return the results now due, oldest first (waits while too many run)."""
        if self._pool is None:
            return [fn(*args)]
        self._jobs.append(self._pool.submit(fn, *args))
        due = []
        while len(self._jobs) > self.limit:
            due.append(self._jobs.popleft().result())
        return due + self.done()

    def done(self) -> list[Any]:
        """Results of the oldest jobs that have finished, without waiting."""
        due = []
        while self._jobs and self._jobs[0].done():
            due.append(self._jobs.popleft().result())
        return due

    def oldest(self) -> Any:
        """Wait for the oldest job in flight and return its result (``IndexError`` if none)."""
        return self._jobs.popleft().result()

    def drain(self) -> list[Any]:
        """Wait for every job in flight; their results, oldest first."""
        due = []
        while self._jobs:
            due.append(self._jobs.popleft().result())
        return due

    def close(self) -> None:
        """Drop the jobs not yet due (the pool is shared and stays)."""
        for job in self._jobs:
            job.cancel()
        self._jobs.clear()
