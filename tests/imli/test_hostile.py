"""imli on hostile archives (issue 15): every case of ``tests/imli/hostile`` x every verb, in a child process.

Each case is version 1 (``t1/a.txt``, ``t1/b.bin``, intact) followed by a hostile version 2 (``t2/c.txt``);
see ``hostile/build.py``. A verb runs as ``python -m everybit imli VERB ARCHIVE ... --block-timeout 1`` in a
fresh copy of the case's folder, in its own session, under ``RLIMIT_AS`` = 2 GiB (a safety net for the test
machine, above what any verb needs). Whatever the case, every run must:

* end by itself within 1 s + its budget (the block timeout, 1 s, plus a 0.5 s allowance for the few KiB of
  data a case really holds: a d block's comment may lie) + 5 s of start-up margin;
* leave no process behind in its session (a decoder worker), and not die of a signal;
* peak at <= 1 GiB resident (``wait4``: the child and the workers it reaped), and, for the huge-model
  cases, refuse the block from its header: never report running out of memory;
* print no ``Traceback``, leave no ``*.everybit-tmp-*`` file anywhere, never change the archive except by
  a successful ``add``/``delete``, and extract only complete files (each equal to its source);
* exit 0 with no error line, or 1 with exactly one ``everybit: error:`` (or ``imli: error:``) line; any
  other stderr line is a warning (at most one: the damage after the readable versions).

What each verb must do depends on what the case damages (``CLASS``). The lead's rule: a verb that hits
damage, or a refused or runaway block, prints what it could and exits 1 with one error line; reading
the versions before the damage may also count as a success (exit 0 with one warning, as
``test_damage.py`` has it), so both are accepted where that applies:

* ``DATA``, version 2's index is intact but its d block (or what the index says about its fragments) is
  hostile: ``list``, ``versions``, ``diff``, ``compare``, ``add`` and ``delete`` never decode d blocks:
  exit 0, no warning. ``test``, ``extract``, ``purge`` and ``prune`` exit 1 naming the block or file;
  ``extract`` still writes version 1's files; ``purge`` and ``prune`` leave no NEW, which would lack a
  file of the version it copies.
* ``INDEX``, version 2's c, h or i block cannot be read (runaway, refused, damaged, truncated): the archive
  reads as version 1. ``list``, ``versions``, ``diff``, ``compare``, ``extract``, ``purge`` and ``prune``
  work on version 1 and exit 1 with one error line, or 0 with one warning (``list`` shows t1's files,
  not t2's; ``extract`` writes t1's files; ``purge`` and ``prune`` may write NEW holding exactly version
  1). ``test`` exits 1; ``add`` and ``delete`` refuse (exit 1, archive unchanged): appending would cut
  off what follows.
* ``INTACT``: the hostile-looking change is valid ZPAQ (zpaq 7.15 reads it): every verb exits 0.
* ``UNREADABLE``: no version can be read: every verb exits 1 with one line; nothing is written.

``h_huge_fragment_size`` may go either way: ``DATA`` (the h block is read, the size mismatch found when
the file is decoded) or ``INDEX`` (the h block refused, as zpaq 7.15 does: "fragment too big").

The huge-model cases are refused from the header if no run reports running out of memory (under
``RLIMIT_AS`` an attempt to allocate fails with that message instead of growing past 1 GiB).
These tests fail until the sandbox (``everybit.imli.sandbox``: ``--block-timeout``, ``--max-memory``) is
wired into every verb.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from everybit.common.atomic import TMP_MARK
from everybit.imli import cli
from everybit.imli.archive import Archive
from tests.imli.hostile import CASES, KEY, Case, build_all
from tests.imli.util import ZPAQ, needs_zpaq

GiB = 1 << 30
CEILING = 2 * GiB  # RLIMIT_AS of each child: a hostile allocation fails there instead of on the machine
MAX_RSS = 1 * GiB
BLOCK_TIMEOUT = 1.0
ALLOWANCE = 0.5  # seconds per block for the data a case really holds (< 0.1 MiB)
STARTUP = 5.0  # interpreter start-up, imports, scrypt, a loaded machine
REACTION = 1.0  # from the budget running out to the process being gone
LIMIT = REACTION + BLOCK_TIMEOUT + ALLOWANCE + STARTUP
DEFAULT_TIMEOUT = getattr(cli, "DEFAULT_BLOCK_TIMEOUT", 10.0)  # --block-timeout's default

DATA, INDEX, INTACT, UNREADABLE = "data", "index", "intact", "unreadable"
CLASS: dict[str, tuple[str, ...]] = {
    "d_hcomp_loop": (DATA,),
    "d_pcomp_loop": (DATA,),
    "i_pcomp_loop": (INDEX,),
    "h_hcomp_loop": (INDEX,),
    "i_output_bomb": (INDEX,),
    "d_huge_model": (DATA,),
    "i_huge_model": (INDEX,),
    "h_huge_fragment_size": (DATA, INDEX),
    "h_fragment_count_bomb": (INDEX,),
    "i_huge_fragment_count": (INDEX,),
    "i_missing_fragments": (DATA,),
    "truncated_in_d": (INDEX,),
    "truncated_in_i": (INDEX,),
    "reordered_i_before_h": (INTACT,),
    "reordered_d_after_i": (INDEX,),
    "reordered_c_swapped": (UNREADABLE,),
    "c_dsize_past_eof": (INDEX,),
    "bad_level_c": (INDEX,),
    "bad_type_d": (DATA,),
    "bad_level_h": (INDEX,),
    "bad_type_i": (INDEX,),
    "encrypted_i_loop": (INDEX,),
    "d_huge_declared_size": (DATA,),
}
HUGE_MODELS = {"d_huge_model", "i_huge_model"}  # must be refused from the header, before allocating


def _available_verbs() -> list[str]:
    """imli's verbs, an alias (``check`` of ``test``) only when it is a verb of its own."""
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    own: dict[int, str] = {}
    for name, sub in subs.choices.items():
        own.setdefault(id(sub), name)
    return list(own.values())


# Arguments after the archive; the child runs in a copy of the case's folder (t1, t2, t3 beside it).
VERBS = {
    "list": [],
    "versions": [],
    "test": [],
    "check": [],  # only if imli has it as a verb of its own
    "extract": ["-o", "out"],
    "add": ["t3"],
    "compare": ["t1"],
    "purge": ["-o", "new.zpaq"],
    "delete": ["t1/a.txt"],
    "diff": ["1"],  # version 1 against the latest
    "prune": ["-o", "new.zpaq", "--keep-last", "2"],  # both versions, each as it was
}
VERBS = {v: a for v, a in VERBS.items() if v in _available_verbs()}
WRITERS = {"add", "delete"}

# Exit statuses by class and verb ("check" as "test"); other verbs: OTHERS.
EXIT: dict[str, dict[str, set[int]]] = {
    DATA: {"test": {1}, "extract": {1}, "purge": {1}, "prune": {1}},
    INDEX: {"test": {1}, "add": {1}, "delete": {1}},
    INTACT: {},
    UNREADABLE: {},
}
OTHERS = {DATA: {0}, INDEX: {0, 1}, INTACT: {0}, UNREADABLE: {1}}


def expected_exits(case: str, verb: str) -> set[int]:
    verb = "test" if verb == "check" else verb
    return set().union(*(EXIT[c].get(verb, OTHERS[c]) for c in CLASS[case]))


# ---------------------------------------------------------------------------------------------- running


@dataclass
class Run:
    cmd: list[str]
    code: int  # negative: killed by that signal
    out: str
    err: str
    seconds: float  # from start (or from the signal, when one was sent) to exit
    max_rss: int  # bytes, the child and every descendant it waited for
    leftovers: bool  # processes of its session still alive after it exited
    killed: bool  # by the test, for running past its limit

    def __str__(self) -> str:
        return (
            f"{' '.join(self.cmd[3:])}: exit {self.code} after {self.seconds:.1f} s, "
            f"peak {self.max_rss / 2**20:.0f} MiB{', KILLED by the test' if self.killed else ''}"
            f"{', left processes behind' if self.leftovers else ''}\n"
            f"--- stdout:\n{self.out[-1500:]}--- stderr:\n{self.err[-1500:]}"
        )


def _session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``: workers that outlived the verb. Zombies are
    left out: a killed worker whose parent is gone may wait a while for init to reap it."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
                pids.append(int(stat.parent.name))
    return pids


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as on a terminal (a shell's background jobs ignore it)
    resource.setrlimit(resource.RLIMIT_AS, (CEILING, CEILING))


def run_imli(
    args: list[str],
    cwd: Path,
    *,
    limit: float,
    key: str | None = None,
    block_timeout: float | None = BLOCK_TIMEOUT,
    send: tuple[float, int, bool] | None = None,
) -> Run:
    """``python -m everybit imli ARGS`` in ``cwd``; killed (with its session) past ``limit`` seconds.
    ``send``: (after how many seconds, which signal, to its whole process group or not): a signal to send it;
    ``seconds`` then counts from the signal."""
    cmd = [sys.executable, "-m", "everybit", "imli", *args]
    cmd += ["--key", key] if key else []
    cmd += ["--block-timeout", f"{block_timeout:g}"] if block_timeout is not None else []
    env = {**os.environ, "EVERYBIT_NO_PROGRESS": "1", "MALLOC_ARENA_MAX": "2", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
        start = time.monotonic()
        killed, sent_at = False, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            now = time.monotonic()
            if pid:
                break
            if send and sent_at is None and now - start >= send[0]:
                (os.killpg if send[2] else os.kill)(proc.pid, send[1])
                sent_at = now
            if now - (sent_at or start) > limit + (send[0] if send and sent_at is None else 0):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                now, killed = time.monotonic(), True
                break
            time.sleep(0.01)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        leftovers = bool(_session_members(proc.pid))
        if leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        return Run(
            cmd,
            code,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            now - (sent_at or start),
            usage.ru_maxrss * 1024,
            leftovers,
            killed,
        )


V1 = {"t1/a.txt": 20_000, "t1/b.bin": 3_000}
V2 = {"t2/c.txt": 12_000}


def archived(path: Path, key: str | None) -> dict[str, int]:
    """Files (name: size) of the latest version of an archive purge wrote (a plain imli archive)."""
    journal = Archive(path, key).journal()
    return {p: journal.size_of(e) for p, e in journal.state().items() if not e.is_dir}


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def temp_files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if TMP_MARK in p.name]


def stderr_lines(run: Run) -> tuple[list[str], list[str], list[str]]:
    """(error lines, warning lines, anything else) of a run's stderr."""
    errors, warnings, other = [], [], []
    for line in run.err.splitlines():
        if line.startswith(("everybit: error:", "imli: error:")):
            errors.append(line)
        elif line.startswith(("everybit: warning:", "imli: warning:")):
            warnings.append(line)
        else:
            other.append(line)
    return errors, warnings, other


def check_common(run: Run, work: Path, *, limit: float, huge_model: bool = False) -> None:
    """What every run must satisfy, whatever the case and verb."""
    assert not run.killed and run.seconds <= limit, f"did not end within {limit:.1f} s: {run}"
    assert not run.leftovers, f"left processes running after it exited: {run}"
    assert run.code >= 0, f"killed by signal {-run.code}: {run}"
    assert "Traceback" not in run.out + run.err, str(run)
    assert run.max_rss <= MAX_RSS, f"peak memory {run.max_rss / 2**20:.0f} MiB: {run}"
    if huge_model:
        assert "out of memory" not in run.err.lower(), (
            f"a huge model must be refused from its header, not by running out of memory: {run}"
        )
    assert not temp_files(work), f"temporary files left: {temp_files(work)}: {run}"


def check_lines(run: Run, *, warnings_when_ok: int | None) -> None:
    """One error line when it failed, none when it did not; ``warnings_when_ok``: how many warnings a
    success prints (None: 0 or 1); anything else on stderr is a finding."""
    errors, warnings, other = stderr_lines(run)
    assert not other, f"stderr lines that are neither an error nor a warning: {run}"
    if run.code == 0:
        allowed = (0, 1) if warnings_when_ok is None else (warnings_when_ok,)
        assert not errors and len(warnings) in allowed, f"expected {allowed} warning(s): {run}"
    else:
        assert len(errors) == 1 and len(warnings) <= 1, f"expected exactly one error line: {run}"


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Case]:
    return build_all(tmp_path_factory.mktemp("hostile"))


def _work(case: Case, tmp_path: Path) -> Path:
    """A private copy of the case's folder (archive, t1, t2, t3; dates and modes kept)."""
    work = tmp_path / "w"
    shutil.copytree(case.folder, work, symlinks=True)
    return work


def test_every_case_has_a_class_and_a_description(hostile):
    assert set(CLASS) == set(CASES) == set(hostile)
    for name, case in hostile.items():
        assert case.path.is_file() and case.description, name
        assert (CASES[name].__doc__ or "").strip(), f"{name}: the builder must say what a reader must do"


# ---------------------------------------------------------------------------------------------- the matrix


# A case that only repeats another's path through the code runs the verbs that react differently (read,
# verify, write out, refuse), to keep the file near a minute on two cores: each run away costs ~1.5 s.
ONLY = {"i_output_bomb": ("list", "test", "extract", "add")}  # the index path of i_pcomp_loop, growing
MATRIX = [(n, v) for n in CASES for v in VERBS if v in ONLY.get(n, VERBS)]


@pytest.mark.parametrize(("name", "verb"), MATRIX, ids=[f"{n}-{v}" for n, v in MATRIX])
def test_verb_on_hostile_archive(hostile, tmp_path, name, verb):
    case = hostile[name]
    work = _work(case, tmp_path)
    archive = work / case.path.name
    before = sha1(archive)
    run = run_imli([verb, archive.name, *VERBS[verb]], work, limit=LIMIT, key=case.key)

    check_common(run, work, limit=LIMIT, huge_model=name in HUGE_MODELS)
    exits = expected_exits(name, verb)
    assert run.code in exits, f"exit {run.code}, expected {sorted(exits)} for {CLASS[name]}: {run}"
    (kind,) = CLASS[name] if len(CLASS[name]) == 1 else (None,)  # None: either, checked less
    check_lines(run, warnings_when_ok={INDEX: 1, None: None}.get(kind, 0))

    if verb not in WRITERS or run.code != 0:
        assert sha1(archive) == before, f"the archive changed: {run}"
    if verb in ("purge", "prune"):  # NEW is complete (every file of the versions it copies) or absent
        new = work / "new.zpaq"
        if run.code == 0 or (kind == INDEX and new.exists()):  # version 1 may be copied, then exit 1
            version = V1 | V2 if kind == INTACT else V1
            got = archived(new, case.key)
            assert got == version, f"NEW holds {got}, not {version}: {run}"
        else:
            assert not new.exists(), f"NEW written by a purge that failed: {run}"
    if verb == "extract":
        out = work / "out"
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        for rel in written:  # nothing partial: whatever was written is complete
            assert (out / rel).read_bytes() == (work / rel).read_bytes(), (
                f"{rel} differs from its source: {run}"
            )
        if CLASS[name] != (UNREADABLE,):
            assert set(V1) <= set(written), f"version 1's files were not extracted: {run}"
        if DATA in CLASS[name] or INDEX in CLASS[name]:
            assert "t2/c.txt" not in written, str(run)
        if CLASS[name] == (INTACT,):
            assert "t2/c.txt" in written, str(run)
    if verb == "list" and kind in (DATA, INDEX, INTACT):  # what it could read: version 1 at least
        assert "t1/a.txt" in run.out, str(run)
        assert ("t2/c.txt" in run.out) == (kind != INDEX), str(run)


# ------------------------------------------------------------------------------------------- default budgets


DEFAULT_LIMIT = REACTION + DEFAULT_TIMEOUT + ALLOWANCE + STARTUP


@pytest.mark.slow
@pytest.mark.parametrize(("name", "verb"), [("i_pcomp_loop", "list"), ("d_pcomp_loop", "extract")])
def test_default_block_timeout_stops_a_runaway(hostile, tmp_path, name, verb):
    """Without --block-timeout, a runaway block is stopped within the default 10 s."""
    case = hostile[name]
    work = _work(case, tmp_path)
    run = run_imli(
        [verb, case.path.name, *VERBS[verb]], work, limit=DEFAULT_LIMIT, key=case.key, block_timeout=None
    )
    check_common(run, work, limit=DEFAULT_LIMIT)
    assert run.code in expected_exits(name, verb), str(run)
    check_lines(run, warnings_when_ok=1 if CLASS[name] == (INDEX,) else 0)


# ---------------------------------------------------------------------------------------------- signals


@pytest.mark.parametrize(
    ("sig", "group", "code"),
    [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)],
    ids=["SIGTERM", "ctrl-c"],
)
@pytest.mark.parametrize(("name", "verb"), [("d_hcomp_loop", "extract"), ("i_pcomp_loop", "list")])
def test_signal_ends_a_verb_stuck_in_a_runaway_block(hostile, tmp_path, name, verb, sig, group, code):
    """SIGTERM to the process (143) and Ctrl-C (SIGINT to its whole process group, as a terminal sends
    it: 130) end a verb within 1 s even while a block runs away (default budget: the block would run
    10 s), with no temporary file, no worker left, the archive unchanged, nothing partial."""
    case = hostile[name]
    work = _work(case, tmp_path)
    before = sha1(work / case.path.name)
    run = run_imli(
        [verb, case.path.name, *VERBS[verb]],
        work,
        limit=1.5,
        key=case.key,
        block_timeout=None,
        send=(2.0, sig, group),
    )
    assert not run.killed and run.seconds <= 1.5, f"did not end within 1 s of the signal: {run}"
    assert run.code == code, str(run)
    assert not run.leftovers, f"left processes running: {run}"
    assert "Traceback" not in run.out + run.err, str(run)
    assert not temp_files(work), temp_files(work)
    assert sha1(work / case.path.name) == before
    out = work / "out"
    for p in out.rglob("*") if out.exists() else []:
        if p.is_file():
            assert p.read_bytes() == (work / p.relative_to(out)).read_bytes(), f"partial file {p}"


# ---------------------------------------------------------------------------------------- the cases are real


@needs_zpaq
def test_zpaq_7_15_runs_away_on_the_runaway_cases(hostile, tmp_path):
    """The runaway cases really run away in zpaq 7.15 (libzpaq): still running after 2 s, where the intact
    archive takes milliseconds. (What zpaq does on every case is in the issue's report.)"""
    runaway = {
        "d_hcomp_loop": ["x", "-test"],
        "d_pcomp_loop": ["x", "-test"],
        "i_pcomp_loop": ["l"],
        "h_hcomp_loop": ["l"],
        "encrypted_i_loop": ["l", "-key", KEY],
    }
    procs = {
        name: subprocess.Popen(
            [ZPAQ, args[0], hostile[name].path.name, *args[1:]],
            cwd=hostile[name].folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (GiB, GiB)),
        )
        for name, args in runaway.items()
    }
    time.sleep(2)
    finished = {name: p.poll() for name, p in procs.items() if p.poll() is not None}
    for p in procs.values():
        p.kill()
        p.wait()
    assert not finished, f"zpaq finished on: {finished}"
