"""The shared block pipeline: order, bounded in-flight jobs, errors in order, pools per thread count."""

import os
import random
import threading
import time

import pytest

from everybit.common import parallel
from everybit.common.parallel import Pipeline, available_cores, resolve_threads


def test_resolve_threads():
    assert available_cores() >= 1
    assert resolve_threads(0) == available_cores()
    assert resolve_threads(3) == 3
    with pytest.raises(ValueError, match="threads must be >= 0"):
        resolve_threads(-1)
    with pytest.raises(TypeError):
        resolve_threads(1.5)
    with pytest.raises(ValueError, match="at least 1 thread"):
        Pipeline(0)
    with pytest.raises(ValueError, match="depth of at least 1"):
        Pipeline(2, 0)


def _slow_square(x: int, delay: float) -> int:
    time.sleep(delay)
    return x * x


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_results_come_back_in_submission_order(threads, depth):
    rng = random.Random(threads)
    pipe = Pipeline(threads, depth)
    got = []
    for i in range(40):
        got += pipe.submit(_slow_square, i, rng.random() * 0.002)
        assert len(pipe) <= pipe.limit == depth * threads
    got += pipe.drain()
    assert got == [i * i for i in range(40)]
    assert len(pipe) == 0 and not pipe


def test_one_thread_runs_inline():
    pipe = Pipeline(1)
    assert not pipe.pooled
    assert pipe.submit(threading.get_ident) == [threading.get_ident()]
    assert pipe.drain() == [] and pipe.done() == []


def test_pooled_jobs_run_on_other_threads_and_in_parallel():
    pipe = Pipeline(2)
    assert pipe.pooled
    barrier = threading.Barrier(2, timeout=5)  # only passes if two jobs run at the same time
    pipe.submit(barrier.wait)
    pipe.submit(barrier.wait)
    assert sorted(pipe.drain()) == [0, 1]
    ident = pipe.submit(threading.get_ident) + pipe.drain()
    assert ident != [threading.get_ident()] and len(ident) == 1


def test_in_flight_jobs_are_bounded():
    pipe = Pipeline(2)
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def job(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        return i

    for i in range(4):
        assert pipe.submit(job, i) == []
    assert len(pipe) == 4
    release.set()
    due = pipe.submit(job, 4)  # the 5th job makes the oldest due (and any others already done)
    assert due[:1] == [0]
    assert due + pipe.drain() == [0, 1, 2, 3, 4]
    assert peak[0] <= 2


def test_errors_surface_in_submission_order():
    def job(i):
        if i in (3, 6):
            time.sleep(0.01 if i == 3 else 0)  # the later failure finishes first
            raise ValueError(f"job {i}")
        return i

    for threads in (1, 3):
        pipe = Pipeline(threads)
        got = []
        with pytest.raises(ValueError, match="job 3"):
            for i in range(10):
                got += pipe.submit(job, i)
            got += pipe.drain()
        assert got == [0, 1, 2]
        pipe.close()
        assert len(pipe) == 0


def test_done_and_oldest():
    pipe = Pipeline(2)
    pipe.submit(_slow_square, 3, 0.0)
    assert pipe.oldest() == 9
    with pytest.raises(IndexError):
        pipe.oldest()
    pipe.submit(_slow_square, 4, 0.0)
    deadline = time.monotonic() + 5
    while not (got := pipe.done()) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert got == [16]


def test_pools_are_shared_per_thread_count():
    assert parallel._pool(3) is parallel._pool(3)
    assert parallel._pool(3) is not parallel._pool(2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_pools():
    pipe = Pipeline(2)
    assert pipe.submit(_slow_square, 2, 0.0) + pipe.drain() == [4]
    pid = os.fork()
    if pid == 0:  # child: the parent's pool threads do not exist here
        code = 1
        try:
            child = Pipeline(2)
            code = 0 if child.submit(_slow_square, 5, 0.0) + child.drain() == [25] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
