"""The sandbox that decodes untrusted blocks: header memory, budgets, the worker pool's watchdog."""

from __future__ import annotations

import os
import time

import pytest

from everybit.common.errors import UsageError
from everybit.imli.archive import Archive
from everybit.imli.blocks import BlockError, header_memory, iter_blocks
from everybit.imli.sandbox import Budget, BudgetError, WorkerPool
from tests.imli.util import text, write


def _blocks(path):
    with open(path, "rb") as fp:
        return list(iter_blocks(fp))


@pytest.fixture(scope="module")
def m3(tmp_path_factory):
    root = tmp_path_factory.mktemp("m3")
    write(root, "t/a.txt", text(200_000, 1))
    Archive(root / "a.zpaq").add([root / "t"], method=3, quiet=True)
    return root / "a.zpaq"


def test_header_memory_reads_the_model(m3):
    """The d block of -m 3 is a BWT (PCOMP arrays 2^ph, 2^pm) with an ICM and an ISSE: the total is
    the spec's formula over its header bytes; stored blocks ask for almost nothing."""
    blocks = _blocks(m3)
    kinds = [b.segments[0].name[17:18] for b in blocks]
    d = blocks[kinds.index(b"d")]
    asked, components = header_memory(d.raw)
    pos = d.raw.index(b"zPQ") + 7
    hh, hm, ph, pm, n = d.raw[pos : pos + 5]
    assert (n, components) == (2, 2)
    icm, isse = d.raw[pos + 5 : pos + 7], d.raw[pos + 7 : pos + 10]
    assert icm[0] == 3 and isse[0] == 8
    hsize = int.from_bytes(d.raw[pos - 2 : pos], "little")
    tables = 64 * 2 ** icm[1] + 1024 + 64 * 2 ** isse[1] + 2048
    assert asked == 4 * 2**hh + 2**hm + 4 * 2**ph + 2**pm + hsize + tables
    c = blocks[kinds.index(b"c")]
    assert header_memory(c.raw) == (4 + 1 + 4 + 1 + 7, 0)


def test_header_memory_refuses_headers_that_do_not_parse(m3):
    d = next(b for b in _blocks(m3) if b.segments[0].name[17:18] == b"d")
    pos = d.raw.index(b"zPQ") + 7
    raw = bytearray(d.raw)
    raw[pos + 5] = 42  # no such component type
    with pytest.raises(BlockError, match="component 0"):
        header_memory(bytes(raw))
    raw = bytearray(d.raw)
    raw[pos] = 40  # hh: 2^40 words
    with pytest.raises(BlockError, match="over 2"):
        header_memory(bytes(raw))


def test_a_block_over_the_memory_limit_is_refused_and_the_rest_is_read(m3, tmp_path):
    d = next(b for b in _blocks(m3) if b.segments[0].name[17:18] == b"d")
    asked, _ = header_memory(d.raw)
    small = Archive(m3, max_memory=asked // 2)
    assert [r["path"] for r in small.list()]  # the index holds no model that big
    result = small.test(threads=1)
    assert result.failed and "memory limit" in result.failed[0][1] and "d block" in result.failed[0][1]
    result = small.extract(to=tmp_path / "out", threads=2)
    assert result.failed and not list((tmp_path / "out").rglob("*.txt"))
    assert not Archive(m3).test(threads=2).failed


def test_budget_rules():
    budget = Budget(max_memory=1 << 30, block_timeout=5)
    assert budget.seconds(0, 0) == 5
    assert budget.seconds(2 << 20, 4) == 5 + 2 * (1 + 0.5 * 4)
    assert Budget().max_memory <= 1 << 30
    with pytest.raises(UsageError):
        Budget(block_timeout=0)


def _job(kind: str) -> object:
    if kind == "spin":
        while True:  # a program that never ends and touches nothing
            pass
    if kind == "sleep":
        time.sleep(3600)
    if kind == "fail":
        raise BlockError("no good")
    if kind == "hog":
        return bytearray(8 << 30)  # over the worker's address-space limit
    return (kind, os.getpid())


def test_pool_results_errors_and_the_watchdog():
    budget = Budget(max_memory=256 << 20, block_timeout=0.5)
    with WorkerPool(_job, 2, budget) as pool:
        for key, kind in enumerate(("a", "spin", "fail", "b", "sleep", "hog")):
            pool.submit(key, kind, seconds=30, memory=1 << 20, what=f"job {kind}")
        started = time.monotonic()
        results = {key: (ok, value) for key, ok, value in pool.results()}
        took = time.monotonic() - started
    assert results[0][0] and results[0][1][0] == "a" and results[0][1][1] != os.getpid()
    assert results[3][0] and results[3][1][0] == "b"
    assert results[1] == (False, results[1][1]) and results[1][1].startswith("job spin: its program ran")
    assert results[4][1].startswith("job sleep: its program ran")
    assert results[2] == (False, "no good")
    assert results[5][0] is False and "out of memory" in results[5][1]
    assert took < 10  # two stalled jobs, each stopped about 0.5 s after it last changed


def test_pool_never_runs_jobs_together_past_the_memory_limit(tmp_path):
    budget = Budget(max_memory=100 << 20, block_timeout=5)
    log = tmp_path / "log"

    def job(n: int) -> int:
        with open(log, "a") as f:
            f.write(f"start {n} {time.monotonic()}\n")
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write(f"end {n} {time.monotonic()}\n")
        return n

    with WorkerPool(job, 2, budget) as pool:
        for n in range(3):
            pool.submit(n, n, seconds=30, memory=60 << 20, what=f"job {n}")
        assert sorted(key for key, ok, _ in pool.results() if ok) == [0, 1, 2]
    running, peak = 0, 0
    events = sorted(
        (float(t), kind) for kind, _, t in (line.split() for line in log.read_text().splitlines())
    )
    for _, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 1  # 2 x 60 MiB > 100 MiB: one at a time


def test_budget_error_is_a_block_error():
    assert issubclass(BudgetError, BlockError)
