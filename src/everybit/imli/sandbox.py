"""Decoding untrusted ZPAQ blocks under a memory and a time budget, in worker processes.

A ZPAQ block carries its own decoder: its header sizes the context-model tables and holds a ZPAQL
program, and libzpaq runs whatever a block declares, with no way to stop it from outside once it is
inside a call. So every block that has a model or a program is decoded in a forked worker process:

* **Memory.** ``header_memory`` reads what the header asks for before anything runs; a block asking
  more than ``max_memory`` is refused with ``BudgetError``. Blocks run side by side only while the sum
  of what they asked for (plus room for their output) stays within ``max_memory``, so the budget holds
  whatever the thread count. Each worker also runs under ``RLIMIT_AS`` as a second line of defence.
* **Time.** A block may run ``block_timeout`` seconds plus an allowance per MiB it declares (zpaq's
  slowest methods decode ~0.3 MiB/s here; the allowance is several times that). A worker whose
  resident memory has not changed for ``block_timeout`` seconds is stopped sooner: a decoder that is
  producing output touches new pages as it goes, a program spinning in place changes nothing. The stopped
  worker is killed and replaced; the block fails with one line naming it.
* **Signals.** The parent only ever waits in ``select``, so Ctrl-C and SIGTERM are handled at once;
  ``close`` kills and reaps every worker. Workers take the default action for both signals, and their
  CPU time is capped per block (``RLIMIT_CPU``), so even a worker orphaned by ``kill -9`` of the parent
  ends by itself.

Workers are forked (POSIX only), so a job handler and whatever it reads (the plan of an extraction)
reach the worker without being pickled; only job arguments and results cross the pipes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import select
import signal
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from everybit.common.errors import UsageError
from everybit.imli.blocks import Block, BlockError, decode_block, header_memory, is_stored

MiB = 1 << 20
# zpaq 7.15's largest standard model (-method 5 on a 64 MiB block) asks ~0.9 GiB; its documented -method x
# range goes beyond any machine (2^11 MiB blocks). The default admits every -method 0..5 archive and is
# capped by half the machine's memory.
DEFAULT_MAX_MEMORY = 1 << 30
# A runaway block is stopped this long after it last showed progress; with start-up and polling, a verb
# that meets one ends within 10 s.
DEFAULT_BLOCK_TIMEOUT = 8.0
SECONDS_PER_MIB = 1.0  # allowance per declared MiB for a block without a model (LZ77, stored) ...
SECONDS_PER_MIB_PER_COMPONENT = 0.5  # ... plus this per model component (-m 5 has 25: 13.5 s/MiB)
OUTPUT_ROOM = 2  # a decode holds its output twice at its peak (libzpaq's growing buffer, then bytes)
POLL_S = 0.2  # how often a running worker's resident memory is sampled
_HEADER = struct.Struct("<Q")


class BudgetError(BlockError):
    """A block refused (it asks for more memory than allowed) or stopped (it ran past its time)."""


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


@dataclass(frozen=True)
class Budget:
    """Limits for decoding one archive's blocks: bytes for all blocks decoding at once, and seconds."""

    max_memory: int = 0  # 0: the default
    block_timeout: float = DEFAULT_BLOCK_TIMEOUT

    def __post_init__(self) -> None:
        if self.max_memory < 0:
            raise UsageError(f"max memory must be >= 0, not {self.max_memory}")
        if not self.block_timeout > 0:
            raise UsageError(f"block timeout must be > 0 seconds, not {self.block_timeout}")
        if not self.max_memory:
            object.__setattr__(self, "max_memory", min(DEFAULT_MAX_MEMORY, machine_memory() // 2))

    def seconds(self, declared: int, components: int) -> float:
        """The longest a block that declares ``declared`` output bytes may take."""
        per_mib = SECONDS_PER_MIB + SECONDS_PER_MIB_PER_COMPONENT * components
        return self.block_timeout + declared / MiB * per_mib

    def check(self, raw: bytes, what: str, declared: int) -> tuple[int, int]:
        """(bytes decoding block ``raw`` needs, its model components): what its header asks for plus
        room for the ``declared`` bytes of output. BudgetError over the limit."""
        asked, components = header_memory(raw)
        if asked > self.max_memory:
            raise BudgetError(
                f"{what}: its model asks for {_size(asked)}, over the {_size(self.max_memory)} memory "
                "limit (--max-memory)"
            )
        need = asked + OUTPUT_ROOM * declared
        if need > self.max_memory:
            raise BudgetError(
                f"{what}: it declares {_size(declared)} of data, which with its model's {_size(asked)} "
                f"is over the {_size(self.max_memory)} memory limit (--max-memory)"
            )
        return need, components


def blame(what: str, offset: int, message: str) -> str:
    """``message`` as "<what>: <reason>", naming the block once (libzpaq's errors come as "block at
    offset N: ...", the pool's and the budget's already start with ``what``)."""
    message = message.removeprefix(f"block at offset {offset}: ")
    return message if message.startswith(what) else f"{what}: {message}"


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


# ---------------------------------------------------------------------------------------------- pipes


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _recv(fd: int) -> Any:
    """The next object from ``fd``; EOFError when the other end closed."""
    head = _read_exactly(fd, _HEADER.size)
    body = None if head is None else _read_exactly(fd, _HEADER.unpack(head)[0])
    if body is None:
        raise EOFError
    return pickle.loads(body)


# ---------------------------------------------------------------------------------------------- workers


def _vm_size() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _resident(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _limit_job(seconds: float, memory: int) -> None:
    """Caps this worker's CPU time for the coming job and its address space to what the job may use."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime + seconds) + 2
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
    vm = _vm_size()
    if vm is not None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (vm + memory + 256 * MiB, resource.RLIM_INFINITY))


def _serve(rfd: int, wfd: int, handler: Callable[[Any], Any]) -> None:
    """A worker's life: run jobs until the parent closes the pipe."""
    while True:
        try:
            key, payload, seconds, memory = _recv(rfd)
        except EOFError:
            return
        _limit_job(seconds, memory)
        try:
            outcome = (True, handler(payload))
        except MemoryError:
            outcome = (False, "out of memory while decoding (--max-memory)")
        except Exception as exc:  # reported in the parent as the block's error
            outcome = (False, str(exc) or type(exc).__name__)
        _send(wfd, (key, outcome))


def _close_others(*keep: int) -> None:
    """In a new worker: close every inherited descriptor but stdio and ``keep``. A worker holding
    another worker's pipe would keep that one from seeing its end (and the caller's sockets open)."""
    try:
        top = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        top = 4096
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, min(top, 1 << 16))


class _Worker:
    def __init__(self, handler: Callable[[Any], Any]) -> None:
        jobs_r, jobs_w = os.pipe()  # parent -> worker
        results_r, results_w = os.pipe()  # worker -> parent
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _close_others(jobs_r, results_w)
                _serve(jobs_r, results_w, handler)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(jobs_r)
        os.close(results_w)
        self.pid, self.wfd, self.rfd = pid, jobs_w, results_r
        self.job: _Job | None = None  # the running job
        self.started = self.deadline = self.seen = 0.0
        self.rss: int | None = None
        self.memory = 0

    def start(self, job: _Job) -> None:
        now = time.monotonic()
        self.job, self.memory = job, job.memory
        self.started, self.deadline, self.seen = now, now + job.seconds, now
        self.rss = _resident(self.pid)
        _send(self.wfd, (job.key, job.payload, job.seconds, job.memory))

    def stalled(self, now: float, patience: float) -> bool:
        """True when the job is past its deadline, or its resident memory has not changed for ``patience``."""
        if now >= self.deadline:
            return True
        rss = _resident(self.pid)
        if rss is not None and rss != self.rss:  # any change: a freed old output buffer is progress too
            self.rss, self.seen = rss, now
        return rss is not None and now - self.seen >= patience

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        for fd in (self.wfd, self.rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


@dataclass
class _Job:
    key: Any
    payload: Any
    seconds: float
    memory: int
    what: str


class WorkerPool:
    """Runs ``handler(payload)`` in up to ``workers`` forked processes under ``budget``.

    ``submit`` queues a job; ``next`` returns ``(key, ok, value)`` for the next finished job (value is
    the handler's result, or an error line when ``ok`` is False: the handler raised, or the job ran past
    its time and its worker was killed). The pool must be closed (it is a context manager).
    """

    def __init__(self, handler: Callable[[Any], Any], workers: int, budget: Budget) -> None:
        self.handler, self.size, self.budget = handler, max(1, workers), budget
        self.idle: list[_Worker] = []
        self.busy: dict[int, _Worker] = {}  # read fd -> worker
        self.queue: deque[_Job] = deque()
        self.done: deque[tuple[Any, bool, Any]] = deque()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        """Jobs submitted and not yet returned by ``next``."""
        return len(self.queue) + len(self.busy) + len(self.done)

    def submit(self, key: Any, payload: Any, *, seconds: float, memory: int, what: str) -> None:
        self.queue.append(_Job(key, payload, seconds, memory, what))

    def next(self) -> tuple[Any, bool, Any]:
        while not self.done:
            if not self.queue and not self.busy:
                raise LookupError("no job pending")
            self.pump()
            self._wait()
        return self.done.popleft()

    def results(self) -> Iterator[tuple[Any, bool, Any]]:
        while len(self):
            yield self.next()

    def pump(self) -> None:
        """Start queued jobs on free workers now, without waiting for any."""
        while self.queue and len(self.busy) < self.size:
            job = self.queue[0]
            in_use = sum(w.memory for w in self.busy.values())
            if self.busy and in_use + job.memory > self.budget.max_memory:
                return  # wait for memory: a big block runs when the others are done
            self.queue.popleft()
            worker = self.idle.pop() if self.idle else _Worker(self.handler)
            try:
                worker.start(job)
            except OSError:  # it died while idle (the OOM killer, say): a fresh one takes the job
                worker.kill()
                worker = _Worker(self.handler)
                worker.start(job)
            self.busy[worker.rfd] = worker

    def _wait(self) -> None:
        ready, _, _ = select.select(list(self.busy), [], [], POLL_S)
        for fd in ready:
            worker = self.busy.pop(fd)
            try:
                key, (ok, value) = _recv(fd)
            except EOFError:  # the worker died: RLIMIT_CPU, the OOM killer, a crash in libzpaq
                self._lost(worker, "its decoder process died")
                continue
            worker.job = None
            self.idle.append(worker)
            self.done.append((key, ok, value))
        now = time.monotonic()
        for fd, worker in list(self.busy.items()):
            if worker.stalled(now, self.budget.block_timeout):
                del self.busy[fd]
                took = now - worker.started
                self._lost(worker, f"its program ran {took:.0f} s without finishing (--block-timeout)")

    def _lost(self, worker: _Worker, why: str) -> None:
        job = worker.job
        assert job is not None
        worker.kill()
        self.done.append((job.key, False, f"{job.what}: {why}"))

    def close(self) -> None:
        """Kill and reap every worker, busy or idle (an idle one holds nothing worth a clean exit)."""
        for worker in [*self.busy.values(), *self.idle]:
            worker.kill()
        self.busy.clear()
        self.idle.clear()
        self.queue.clear()


# ------------------------------------------------------------------------------------ one block at a time


def _decode_raw(job: tuple[bytes, int]) -> bytes:
    raw, offset = job
    return decode_block(raw, offset)


class Decoder:
    """Decodes blocks one at a time (the journal's c, h and i blocks) under ``budget``: stored blocks in
    this process, every other block in a worker started on first use. Callable as a ``journal.Decode``."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.pool: WorkerPool | None = None

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, block: Block, what: str, declared: int) -> bytes:
        if is_stored(block.raw):  # no model, no program: plain Python, bounded by the block's size
            return block.data()
        need, components = self.budget.check(block.raw, what, declared)
        if self.pool is None:
            self.pool = WorkerPool(_decode_raw, 1, self.budget)
        seconds = self.budget.seconds(declared, components)
        self.pool.submit(None, (block.raw, block.offset), seconds=seconds, memory=need, what=what)
        _, ok, value = self.pool.next()
        if not ok:
            raise BlockError(blame(what, block.offset, value))
        if len(value) > declared:  # it said less: what it holds is not what the index was written with
            raise BlockError(f"{what}: decodes to {len(value):,} bytes, its comment says {declared:,}")
        return value

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
