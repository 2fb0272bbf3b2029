"""imli against zpaq 7.15: archive size, add, incremental add, list and extract time, and each reading the
other's archives.

Same run, same trees, same method and threads: ours through its CLI (`python -m everybit imli VERB`,
interpreter start-up included) and the anchor `zpaq` 7.15 (Debian's binary, `-method N -threads 2`), each
a subprocess on its own fresh archive. The tree (`bench.data.file_tree`) is the CPython stdlib's .py files
plus debtext cut into 1-4 MB files; version 2 of it (`plan_edits`, `make_version`) changes ~5% of the
files (lines inserted in the middle or appended, mtime bumped a day) and deletes ~1%. Every extraction of
the first round is compared file by file (bytes and mtime) with the tree it should give back; a mismatch
raises `MismatchError`. Also writes `imli-ratios.png` and `imli-ratios.html` (imli / zpaq size and time
per method).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, sleep
from typing import Any

from bench import data, harness
from bench.harness import Report
from everybit.common.atomic import TMP_MARK

MB = data.MB
THREADS = 2
ZPAQ = "zpaq"
TOOLS = ("zpaq", "imli")
CHANGE, DELETE = 0.05, 0.01  # shares of version 1's files changed and deleted in version 2
EDIT_SEED = "imli-bench-v2"
BUMP = 86_400  # a changed file's mtime moves one day on
SIZE_TARGET, GROWTH_TARGET, TIME_TARGET = 1.02, 1.05, 1.25  # imli / zpaq, at most
EXTRACT_TARGET = 1.0  # extract: at most zpaq's wall time
HOSTILE_SECONDS, HOSTILE_MEMORY = 10.0, 1 << 30  # every verb on every hostile archive, default budgets
SIGNAL_AT, SIGNAL_WITHIN = 2.0, 1.0  # SIGTERM 2 s into a runaway decode ends the verb within 1 s
SANDBOX_COST_TARGET = 0.03  # the sandbox (worker processes, budgets) costs at most 3% of decode time
HOSTILE_VERBS = ("list", "versions", "test", "extract", "add", "compare", "delete", "purge")
RUNAWAY_CASES = ("d_hcomp_loop", "d_pcomp_loop", "i_pcomp_loop", "h_hcomp_loop", "encrypted_i_loop")
TIMED_METHODS = (1, 3)  # the methods with a time target
OPS = ("add", "incr", "list", "extract")
OP_NAMES = {
    "add": "add (version 1)",
    "incr": "incremental add (version 2)",
    "list": "list",
    "extract": "extract",
}


class CommandFailed(RuntimeError):
    """A measured command exited with a non-zero status."""


class MismatchError(RuntimeError):
    """An extracted tree differs from the tree it should give back."""


def require_zpaq() -> None:
    if shutil.which(ZPAQ) is None:
        raise data.DataUnavailable("imli benchmark: `zpaq` not found; run `apt-get install -y zpaq`")


# ---------------------------------------------------------------- version 2 of a tree


def tree_files(root: Path) -> list[str]:
    """Posix paths (relative to `root`) of every regular file under it, sorted."""
    return sorted(rel for rel, _ in data._regular_files(root))


def plan_edits(
    files: Sequence[str], seed: str = EDIT_SEED, change: float = CHANGE, delete: float = DELETE
) -> tuple[list[tuple[str, str]], list[str]]:
    """Which files version 2 changes ((path, "insert" or "append"), sorted) and deletes (sorted): a
    `random.Random(seed)` shuffle of the sorted paths, its first round(change * n) changed (at least one),
    the next round(delete * n) deleted (at least one)."""
    order = sorted(files)
    n_change, n_delete = max(1, round(change * len(order))), max(1, round(delete * len(order)))
    if n_change + n_delete > len(order):
        raise ValueError(f"{len(order)} files: too few to change {n_change} and delete {n_delete}")
    rng = random.Random(seed)
    rng.shuffle(order)
    changed = sorted(order[:n_change])
    kinds = [rng.choice(("insert", "append")) for _ in changed]
    return list(zip(changed, kinds, strict=True)), sorted(order[n_change : n_change + n_delete])


def edit_bytes(content: bytes, kind: str, rel: str) -> bytes:
    """Version 2 of a file: four lines (naming the file, so no two edits are alike) inserted after the line
    that holds the middle byte ("insert") or appended ("append")."""
    tag = hashlib.sha256(rel.encode()).hexdigest()[:16]
    lines = b"".join(
        f"# imli bench edit {tag} ({i}): the quick brown fox jumps over the lazy dog\n".encode()
        for i in range(4)
    )
    if kind == "insert":
        newline = content.find(b"\n", len(content) // 2)
        at = len(content) if newline < 0 else newline + 1
        return content[:at] + lines + content[at:]
    if kind == "append":
        return content + (b"\n" if content and not content.endswith(b"\n") else b"") + lines
    raise ValueError(f"unknown edit {kind!r}")


def make_version(
    src: Path, dst: Path, edits: tuple[list[tuple[str, str]], list[str]] | None = None
) -> dict[str, Any]:
    """Copy the tree `src` to `dst` (which must not exist), applying `edits` (from `plan_edits`): changed
    files rewritten with `edit_bytes` and their mtime moved BUMP seconds on, deleted ones left out. Every
    other file and every folder keeps data.TREE_MTIME. Returns counts and bytes of the result."""
    changed, deleted = edits or ([], [])
    kinds, gone = dict(changed), set(deleted)
    total = files = grown = 0
    for rel, path in data._regular_files(src):
        if rel in gone:
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in kinds:
            content = path.read_bytes()
            new = edit_bytes(content, kinds[rel], rel)
            target.write_bytes(new)
            grown += len(new) - len(content)
        else:
            shutil.copyfile(path, target)
        total += target.stat().st_size
        files += 1
    dst.mkdir(parents=True, exist_ok=True)
    data.set_tree_mtimes(dst, data.TREE_MTIME)
    for rel in kinds:
        os.utime(dst / rel, (data.TREE_MTIME + BUMP, data.TREE_MTIME + BUMP))
    return {
        "files": files,
        "bytes": total,
        "changed": len(kinds),
        "inserted": sum(1 for k in kinds.values() if k == "insert"),
        "appended": sum(1 for k in kinds.values() if k == "append"),
        "deleted": len(gone),
        "bytes_added": grown,
    }


def write_manifest(root: Path, out: Path) -> Path:
    """`REL\\0SHA256\\n` per file, sorted: its SHA-256 is the tree's (as in bench.data's sidecars)."""
    with open(out, "w") as handle:
        for rel, path in sorted(data._regular_files(root)):
            handle.write(f"{rel}\0{harness.sha256_file(path)}\n")
    return out


def compare_trees(expected: Path, got: Path, limit: int = 5) -> list[str]:
    """Differences (at most `limit`, empty if none) between two trees' regular files: missing, extra,
    content, mtime (whole seconds)."""
    want, have = dict(data._regular_files(expected)), dict(data._regular_files(got))
    problems = [f"missing {rel}" for rel in sorted(want.keys() - have.keys())]
    problems += [f"unexpected {rel}" for rel in sorted(have.keys() - want.keys())]
    for rel in sorted(want.keys() & have.keys()):
        a, b = want[rel].stat(), have[rel].stat()
        if a.st_size != b.st_size or want[rel].read_bytes() != have[rel].read_bytes():
            problems.append(f"content of {rel}")
        elif int(a.st_mtime) != int(b.st_mtime):
            problems.append(f"mtime of {rel}")
        if len(problems) >= limit:
            break
    return problems[:limit]


# ---------------------------------------------------------------- commands

# The Archive API behind the same arguments, for when the CLI does not exist yet.
_API_SCRIPT = """
import argparse, json
from everybit.imli.archive import Archive
p = argparse.ArgumentParser()
p.add_argument("verb"); p.add_argument("archive"); p.add_argument("paths", nargs="*")
p.add_argument("-m", type=int, default=1); p.add_argument("-T", type=int, default=0)
p.add_argument("-o", "--out")
p.add_argument("--until", type=int); p.add_argument("--json", action="store_true")
a = p.parse_args()
arc = Archive(a.archive)
if a.verb == "add":
    arc.add(a.paths, method=a.m, threads=a.T)
elif a.verb == "extract":
    r = arc.extract(to=a.out, until=a.until, threads=a.T)
    raise SystemExit(1 if r.failed else 0)
elif a.verb == "list":
    rows = arc.list()
    print(json.dumps({"versions": len(arc.versions()), "files": [
        {"path": r["path"], "type": "dir" if r["path"].endswith("/") else "file", "deleted": r["deleted"]}
        for r in rows]}) if a.json else "\\n".join(f"{r['size']} {r['path']}" for r in rows))
elif a.verb == "test":
    raise SystemExit(1 if arc.test(threads=a.T).failed else 0)
"""


def imli_command() -> tuple[list[str], str]:
    """(argv prefix, how) of imli: its CLI if present, else the Archive API in a subprocess."""
    try:
        import everybit.imli.cli  # noqa: F401
    except ImportError:
        return [
            sys.executable,
            "-c",
            _API_SCRIPT,
        ], "everybit.imli.archive.Archive in `python -c` (no CLI yet)"
    return [sys.executable, "-m", "everybit", "imli"], "`python -m everybit imli VERB ...`"


def command(
    tool: str, op: str, archive: Path, *, method: int = 1, to: Path | None = None, until: int | None = None
) -> list[str]:
    """argv of one operation ("add", "incr", "list", "extract", "list-json", "test"); add and incr add the
    relative path `tree` (run them in the folder that holds it)."""
    if tool == "zpaq":
        threads = ["-threads", str(THREADS)]
        until_arg = [] if until is None else ["-until", str(until)]
        if op in ("add", "incr"):
            return [ZPAQ, "add", str(archive), "tree", "-method", str(method), *threads]
        if op == "extract":
            return [ZPAQ, "x", str(archive), "-to", str(to), *threads, *until_arg]
        if op == "list":
            return [ZPAQ, "l", str(archive), *until_arg]
    elif tool == "imli":
        base = imli_command()[0]
        threads = ["-T", str(THREADS)]
        until_arg = [] if until is None else ["--until", str(until)]
        if op in ("add", "incr"):
            return [*base, "add", str(archive), "tree", "-m", str(method), *threads]
        if op == "extract":
            return [*base, "extract", str(archive), "-o", str(to), *threads, *until_arg]
        if op == "list":
            return [*base, "list", str(archive), *until_arg]
        if op == "list-json":
            return [*base, "list", str(archive), "--json"]
        if op == "test":
            return [*base, "test", str(archive), *threads]
    raise ValueError(f"no command for {tool} {op}")


@dataclass
class Measured:
    wall: float
    cpu: float
    out: str


def run_measured(cmd: list[str], cwd: Path | None = None) -> Measured:
    """Run a command to completion: wall seconds (perf_counter around it, start-up included), the CPU seconds
    it used (user + system, from RUSAGE_CHILDREN) and its stdout. CommandFailed on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
    wall = perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
        raise CommandFailed(f"`{' '.join(cmd)}` exited with {proc.returncode}: {err[-1]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(wall, cpu, proc.stdout.decode(errors="replace"))


# ---------------------------------------------------------------- one method


def bench_method(
    method: int, v1: Path, v2: Path, work: Path, rounds: int, keep: bool = False
) -> dict[str, dict[str, Any]]:
    """Both tools at one method, `rounds` rounds. `v1` and `v2` are folders holding `tree` (versions 1 and 2).
    In a round, each operation runs once per tool, zpaq first in even rounds and imli first in odd ones
    (interleaved, so a busy neighbour slows both alike), each tool on its own fresh archive: add version 1,
    add version 2 (incremental), list, extract. The first round's extractions are checked against version 2
    (MismatchError). With `keep`, the first round's archives stay in `work` as TOOL-mM.zpaq."""
    results: dict[str, dict[str, Any]] = {
        t: {"sizes": [], **{op: [] for op in OPS}, "cpu": {op: [] for op in OPS}} for t in TOOLS
    }
    for r in range(rounds):
        order = TOOLS if r % 2 == 0 else TOOLS[::-1]
        archives = {t: work / f"{t}-m{method}-r{r}.zpaq" for t in TOOLS}
        sizes: dict[str, list[int]] = {t: [] for t in TOOLS}
        for op in OPS:
            print(f"imli: -m {method}: round {r + 1}/{rounds}: {op}", file=sys.stderr, flush=True)
            for tool in order:
                out = work / f"out-{tool}"
                cwd = v1 if op == "add" else v2
                measured = run_measured(command(tool, op, archives[tool], method=method, to=out), cwd)
                results[tool][op].append(measured.wall)
                results[tool]["cpu"][op].append(measured.cpu)
                if op in ("add", "incr"):
                    sizes[tool].append(archives[tool].stat().st_size)
                if op == "extract":
                    if r == 0 and (problems := compare_trees(v2 / "tree", out / "tree")):
                        raise MismatchError(
                            f"{tool} -m {method}: extracted tree differs: {'; '.join(problems)}"
                        )
                    shutil.rmtree(out)
        for tool in TOOLS:
            results[tool]["sizes"].append(sizes[tool])
            if keep and r == 0:
                archives[tool].rename(work / f"{tool}-m{method}.zpaq")
            else:
                archives[tool].unlink()
    for res in results.values():
        res["size1"], res["size2"] = res["sizes"][0]
        res["growth"] = res["size2"] - res["size1"]
    return results


def summarise(method: int, label: str, v1: dict[str, Any], v2: dict[str, Any], tools: dict) -> dict[str, Any]:
    """One method's results with medians: what the tables, headline and chart read."""
    out: dict[str, Any] = {"method": method, "tree": label, "v1": v1, "v2": v2, "tools": {}}
    for tool, res in tools.items():
        med = {op: statistics.median(res[op]) for op in OPS}
        cores = {
            op: statistics.median(c / w for c, w in zip(res["cpu"][op], res[op], strict=True)) for op in OPS
        }
        out["tools"][tool] = {
            "size1": res["size1"],
            "size2": res["size2"],
            "growth": res["growth"],
            "sizes": res["sizes"],
            "runs": {op: res[op] for op in OPS},
            "median": med,
            "cores": cores,
        }
    return out


# ---------------------------------------------------------------- reading each other's archives


def _zpaq_list_files(text: str) -> tuple[int | None, set[str]]:
    """(versions, file paths) from `zpaq l` output."""
    found = re.search(r": (\d+) versions?,", text)
    files = set()
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        if (
            len(parts) == 6
            and parts[0] == "-"
            and not parts[4].startswith("d")
            and not parts[5].endswith("/")
        ):
            files.add(parts[5])
    return (int(found.group(1)) if found else None), files


def cross_read(
    imli_archive: Path, zpaq_archive: Path, v1: Path, v2: Path, work: Path
) -> list[dict[str, Any]]:
    """Each tool lists the other's two-version archive (versions and file names), extracts its latest
    version and rolls back to version 1 (content and mtimes equal to the trees), and imli tests zpaq's."""
    want = {f"tree/{rel}" for rel in tree_files(v2 / "tree")}
    checks = []

    def check(reader: str, writer: str, what: str, ok: bool, detail: str) -> None:
        checks.append({"reader": reader, "writer": writer, "check": what, "ok": ok, "detail": detail})

    for reader, writer, archive in (("zpaq", "imli", imli_archive), ("imli", "zpaq", zpaq_archive)):
        print(f"imli: {reader} reads {writer}'s archive", file=sys.stderr, flush=True)
        if reader == "zpaq":
            versions, files = _zpaq_list_files(run_measured(command("zpaq", "list", archive)).out)
        else:
            doc = json.loads(run_measured(command("imli", "list-json", archive)).out)
            versions = doc["versions"]
            files = {f["path"] for f in doc["files"] if f["type"] == "file" and not f["deleted"]}
        ok = versions == 2 and files == want
        check(
            reader, writer, "list", ok, f"{versions} versions, {len(files):,} files (want 2, {len(want):,})"
        )
        for until, tree in ((None, v2), (1, v1)):
            out = work / f"cross-{reader}"
            try:
                run_measured(command(reader, "extract", archive, to=out, until=until))
                problems = compare_trees(tree / "tree", out / "tree")
            except CommandFailed as exc:
                problems = [str(exc)]
            shutil.rmtree(out, ignore_errors=True)
            count = len(tree_files(tree / "tree"))
            what = "extract latest (version 2)" if until is None else "extract version 1 (rollback)"
            detail = "; ".join(problems) or f"{count:,} files, bytes and mtimes equal"
            check(reader, writer, what, not problems, detail)
    try:
        run_measured(command("imli", "test", zpaq_archive))
        check("imli", "zpaq", "test (every fragment's SHA-1)", True, "all OK")
    except CommandFailed as exc:
        check("imli", "zpaq", "test (every fragment's SHA-1)", False, str(exc))
    return checks


# ---------------------------------------------------------------- hostile archives, signals, sandbox cost


def hostile_command(case: Any, verb: str) -> list[str]:
    """imli VERB on a copy of the hostile archive (so a verb that writes leaves the next one its input),
    default budgets."""
    archive = case.folder / f"{verb}.zpaq"
    shutil.copyfile(case.path, archive)
    extra = {
        "extract": ["-o", str(case.folder / f"out-{verb}"), "-f"],
        "add": [str(case.folder / "t3")],
        "compare": [str(case.folder / "t1")],
        "delete": ["t1/a.txt"],
        "purge": ["-o", str(case.folder / "purged.zpaq"), "-f"],
    }.get(verb, [])
    key = ["--key", case.key] if case.key else []
    return [*imli_command()[0], verb, str(archive), *extra, *key, "-q"]


def run_child(cmd: list[str], cwd: Path, terminate_at: float | None = None) -> dict[str, Any]:
    """Run ``cmd``: exit code, wall seconds, peak resident MiB (its own and its workers', from wait4),
    stderr lines; with ``terminate_at``, SIGTERM after that many seconds and the seconds it took to end.
    A child still running after 120 s is killed and reported as hung (exit None)."""
    with tempfile.TemporaryFile() as err:
        start = perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        signalled = None
        if terminate_at is not None and not with_timeout(proc, terminate_at):  # (not Popen.poll: it reaps)
            os.kill(proc.pid, signal.SIGTERM)
            signalled = perf_counter()
        hung = not with_timeout(proc, 120)
        if hung:
            os.kill(proc.pid, signal.SIGKILL)
        _, status, usage = os.wait4(proc.pid, 0)
        end = perf_counter()
        err.seek(0)
        lines = [line for line in err.read().decode(errors="replace").splitlines() if line.strip()]
    return {
        "code": None if hung else os.waitstatus_to_exitcode(status),
        "wall": end - start,
        "after_signal": None if signalled is None else end - signalled,
        "peak_mib": usage.ru_maxrss / 1024,
        "errors": lines,
    }


def with_timeout(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``proc`` to end without reaping it (wait4 reads its usage later)."""
    deadline = perf_counter() + seconds
    while perf_counter() < deadline:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        sleep(0.01)
    return False


def hostile_ok(r: dict[str, Any]) -> bool:
    """Ended in time and memory, and either failed with one line (exit 1) or succeeded silently because
    the hostile part was not on that verb's path (a correct partial result, e.g. list over a hostile d
    block). Never a traceback."""
    one_line = r["code"] == 1 and len(r["errors"]) == 1 and ": error: " in r["errors"][0]
    # compare exits 1 for "differences found" (the tree on disk is not the archive's latest version)
    clean = r["code"] in ((0, 1) if r["verb"] == "compare" else (0,)) and not r["errors"]
    traceback = any("Traceback" in line for line in r["errors"])
    in_budget = r["wall"] <= HOSTILE_SECONDS and r["peak_mib"] <= HOSTILE_MEMORY / (1 << 20)
    return in_budget and (one_line or clean) and not traceback


def bench_hostile(work: Path, quick: bool) -> dict[str, Any]:
    """Every hostile archive of tests/imli/hostile under every verb, then SIGTERM into runaway decodes."""
    from tests.imli.hostile.build import CASES

    root = work / "hostile"
    root.mkdir()
    names = list(CASES) if not quick else ["d_hcomp_loop", "i_pcomp_loop", "d_huge_model"]
    verbs = HOSTILE_VERBS if not quick else ("list", "test", "extract")
    rows, signals = [], []
    for name in names:
        case = CASES[name](root)
        for verb in verbs:
            print(f"imli: hostile: {name}: {verb}", file=sys.stderr, flush=True)
            r = {"verb": verb, **run_child(hostile_command(case, verb), case.folder)}
            rows.append({"case": name, "ok": hostile_ok(r), **r})
        slow = {r["verb"] for r in rows if r["case"] == name and r["wall"] > SIGNAL_AT + 1}
        if name in RUNAWAY_CASES:
            for verb in [v for v in ("list", "test", "extract") if v in slow]:  # those that meet the runaway
                r = run_child(hostile_command(case, verb), case.folder, terminate_at=SIGNAL_AT)
                leftovers = [p.name for p in case.folder.rglob(f"*{TMP_MARK}*")]
                ok = r["code"] == 143 and r["after_signal"] is not None and r["after_signal"] <= SIGNAL_WITHIN
                signals.append(
                    {"case": name, "verb": verb, "ok": ok and not leftovers, "left": leftovers, **r}
                )
    return {"rows": rows, "signals": signals, "descriptions": {n: CASES[n].__doc__ for n in names}}


def sandbox_cost(archive: Path, rounds: int = 3) -> dict[str, float]:
    """What decoding in sandboxed workers costs: ``Archive.test(threads=1)`` (one worker: fork, pipes,
    header budgets, watchdog) against the same decoding and SHA-1 checks run in this process, median of
    ``rounds`` each, interleaved."""
    from everybit.imli import restore
    from everybit.imli.archive import Archive

    arch = Archive(archive)
    journal = arch.journal()
    entries = [e for v in journal.versions for e in v.entries if not e.deleted and not e.is_dir]
    jobs = restore.block_jobs(journal, entries)
    inline, sandboxed = [], []
    for _ in range(rounds):
        start = perf_counter()
        with open(archive, "rb") as fp:
            for job in jobs.values():
                restore.decode_pieces(fp, job)
        inline.append(perf_counter() - start)
        start = perf_counter()
        if arch.test(threads=1, quiet=True).failed:
            raise MismatchError(f"{archive}: imli test failed")
        sandboxed.append(perf_counter() - start)
    a, b = statistics.median(inline), statistics.median(sandboxed)
    return {"inline": a, "sandboxed": b, "cost": b / a - 1, "blocks": len(jobs)}


def add_safety(report: Report, hostile: dict[str, Any], cost: dict[str, float], label: str) -> None:
    rows = hostile["rows"]
    report.add_table(
        "Hostile archives",
        ["case", "verb", "exit", "wall s", "peak MiB", "stderr", "met"],
        [
            [
                r["case"],
                r["verb"],
                r["code"],
                r["wall"],
                r["peak_mib"],
                (r["errors"] or [""])[0][:160],
                r["ok"],
            ]
            for r in rows
        ],
        "Each archive of `tests/imli/hostile` (built from a real imli archive by code: runaway ZPAQL "
        "programs in d, i and h blocks, huge model declarations, huge fragment counts and sizes, truncated "
        "and reordered journals, c blocks past the end, wrong level/type bytes, an encrypted runaway) "
        "under every verb, as a subprocess with the default budgets (--max-memory 1G, --block-timeout 8). "
        f"Met: ended within {HOSTILE_SECONDS:g} s with peak memory (wait4 ru_maxrss: the process and its "
        f"decoder workers) <= {HOSTILE_MEMORY >> 20} MiB and no traceback, and either exit 1 with one "
        "error line or exit 0 with none (the hostile block was not on that verb's path: `list` never "
        "decodes d blocks; `compare` exits 1 when the disk differs from the archive, which it does here).",
    )
    sig = hostile["signals"]
    report.add_table(
        "SIGTERM during a runaway decode",
        ["case", "verb", "exit", "seconds after SIGTERM", "temporary files left", "met"],
        [[r["case"], r["verb"], r["code"], r["after_signal"], len(r["left"]), r["ok"]] for r in sig],
        f"SIGTERM {SIGNAL_AT:g} s after the start, while a block's program spins in a decoder worker; met: "
        f"exit 143 within {SIGNAL_WITHIN:g} s, no temporary file left.",
    )
    passed = sum(r["ok"] for r in rows)
    report.add_headline(
        "hostile archives: every verb ends in time and memory, one line",
        f"{passed}/{len(rows)} runs",
        "zpaq 7.15",
        "hangs on runaway programs",
        target=f"all within {HOSTILE_SECONDS:g} s, <= 1 GiB",
        met=passed == len(rows),
    )
    report.add_headline(
        "SIGTERM during a runaway decode ends the verb",
        f"{sum(r['ok'] for r in sig)}/{len(sig)} runs",
        "zpaq 7.15",
        "ignores it until the block ends",
        target=f"exit 143 within {SIGNAL_WITHIN:g} s",
        met=all(r["ok"] for r in sig),
    )
    report.add_headline(
        f"sandbox cost on decode + SHA-1 checks, -m 1, {label}",
        f"{cost['cost']:+.1%}",
        "same decoding in-process",
        f"{cost['inline']:.2f} s",
        target=f"<= {SANDBOX_COST_TARGET:.0%}",
        met=cost["cost"] <= SANDBOX_COST_TARGET,
    )
    report.add_table(
        "Cost of the sandbox",
        ["archive", "d blocks", "in-process s", "sandboxed s", "cost"],
        [[f"imli -m 1, {label}", cost["blocks"], cost["inline"], cost["sandboxed"], f"{cost['cost']:+.1%}"]],
        "`Archive.test(threads=1)` (each d block decoded in a forked worker under the memory and time "
        "budgets, results over a pipe) against `restore.decode_pieces` on the same blocks in this process "
        "(the same libzpaq decoding and SHA-1 checks, no worker, no budget): medians of 3 interleaved "
        "rounds. -m 1 decodes fastest, so this is where a fixed cost per block shows most.",
    )


# ---------------------------------------------------------------- headline, tables, plot


def add_headlines(
    report: Report, methods: Sequence[dict[str, Any]], checks: Sequence[dict[str, Any]]
) -> None:
    """The issue's targets: sizes at every method (first add and after the incremental add <= 1.02x zpaq,
    growth <= 1.05x), add and extract time at methods 1 and 3 (<= 1.25x), and the two tools reading each
    other's archives."""
    anchor = f"zpaq 7.15 -threads {THREADS}"
    for m in methods:
        ours, theirs = m["tools"]["imli"], m["tools"]["zpaq"]
        for key, what, target in (
            ("size1", "archive size after first add", SIZE_TARGET),
            ("size2", "archive size after incremental add", SIZE_TARGET),
            ("growth", "incremental add size growth", GROWTH_TARGET),
        ):
            ratio = ours[key] / theirs[key] if theirs[key] else float("inf")
            report.add_headline(
                f"{what}, -m {m['method']}, {m['tree']}",
                ours[key],
                f"zpaq 7.15 -method {m['method']}",
                theirs[key],
                ratio=ratio,
                target=f"<= {target:g}x zpaq",
                met=ratio <= target,
                unit="B",
            )
    for m in methods:
        if m["method"] not in TIMED_METHODS:
            continue
        ours, theirs = m["tools"]["imli"]["median"], m["tools"]["zpaq"]["median"]
        for op, limit in (("add", TIME_TARGET), ("extract", EXTRACT_TARGET)):
            ratio = ours[op] / theirs[op]
            report.add_headline(
                f"{op} wall time, -m {m['method']} -T {THREADS}, {m['tree']}",
                ours[op],
                anchor,
                theirs[op],
                ratio=ratio,
                target=f"<= {limit:g}x zpaq",
                met=ratio <= limit,
                unit="s",
            )
    for reader, writer in (("zpaq", "imli"), ("imli", "zpaq")):
        mine = [c for c in checks if c["reader"] == reader]
        if not mine:
            continue
        ok = all(c["ok"] for c in mine)
        what = "list, extract, rollback" + (", test" if reader == "imli" else "")
        report.add_headline(
            f"{reader} reads {writer}'s -m 1 archive ({what})",
            f"{sum(c['ok'] for c in mine)}/{len(mine)} checks passed",
            "zpaq 7.15" if reader == "zpaq" else "imli",
            "content equal",
            target="all pass",
            met=ok,
        )


SIZE_COLUMNS = [
    "method",
    "tree",
    "imli first add B",
    "zpaq first add B",
    "ratio",
    "imli after incremental B",
    "zpaq after incremental B",
    "ratio",
    "imli growth B",
    "zpaq growth B",
    "ratio",
]


def size_rows(methods: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for m in methods:
        i, z = m["tools"]["imli"], m["tools"]["zpaq"]
        rows.append(
            [
                f"-m {m['method']}",
                m["tree"],
                i["size1"],
                z["size1"],
                i["size1"] / z["size1"],
                i["size2"],
                z["size2"],
                i["size2"] / z["size2"],
                i["growth"],
                z["growth"],
                i["growth"] / z["growth"] if z["growth"] else None,
            ]
        )
    return rows


TIME_COLUMNS = [
    "method",
    "tree",
    "operation",
    "rounds",
    "imli s",
    "zpaq s",
    "imli / zpaq",
    "imli MB/s",
    "zpaq MB/s",
    "imli cores used",
    "zpaq cores used",
]


def time_rows(methods: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for m in methods:
        i, z = m["tools"]["imli"], m["tools"]["zpaq"]
        for op in OPS:
            size = {"add": m["v1"]["bytes"], "extract": m["v2"]["bytes"]}.get(op)

            def speed(seconds: float, size: int | None = size) -> float | None:
                return size / MB / seconds if size else None

            rows.append(
                [
                    f"-m {m['method']}",
                    m["tree"],
                    OP_NAMES[op],
                    len(i["runs"][op]),
                    i["median"][op],
                    z["median"][op],
                    i["median"][op] / z["median"][op],
                    speed(i["median"][op]),
                    speed(z["median"][op]),
                    i["cores"][op],
                    z["cores"][op],
                ]
            )
    return rows


def ratio_chart(methods: Sequence[dict[str, Any]]) -> Any:
    """imli / zpaq per method (categories): two size series and three time series."""
    from everybit.common.report import Chart, Series

    cats = [f"-m {m['method']}" for m in methods]

    def series(name: str, value: Any) -> Series:
        return Series(name, cats, [value(m["tools"]["imli"], m["tools"]["zpaq"]) for m in methods])

    return Chart(
        "imli / zpaq 7.15 (1 = same; lower is better)",
        [
            series("size, first add", lambda i, z: i["size1"] / z["size1"]),
            series(
                "size growth, incremental", lambda i, z: i["growth"] / z["growth"] if z["growth"] else 0.0
            ),
            series("add time", lambda i, z: i["median"]["add"] / z["median"]["add"]),
            series("incremental add time", lambda i, z: i["median"]["incr"] / z["median"]["incr"]),
            series("extract time", lambda i, z: i["median"]["extract"] / z["median"]["extract"]),
        ],
        kind="bar",
        ylabel="imli / zpaq",
    )


def save_plot(methods: Sequence[dict[str, Any]], folder: Path) -> tuple[Path, Path]:
    """Write imli-ratios.png and imli-ratios.html (the SVG plus the numbers behind every bar)."""
    folder.mkdir(parents=True, exist_ok=True)
    chart = ratio_chart(methods)
    png = chart.save_png(folder / "imli-ratios.png")
    note = (
        "Generated by <code>python -m bench imli</code>; hover a bar for its value. Targets: size "
        f"&le; {SIZE_TARGET:g}x, growth &le; {GROWTH_TARGET:g}x, add and extract time at -m 1 and -m 3 "
        f"&le; {TIME_TARGET:g}x zpaq."
    )
    tables = [(SIZE_COLUMNS, size_rows(methods)), (TIME_COLUMNS, time_rows(methods))]
    page_path = harness.chart_page(
        folder / "imli-ratios.html", "imli against zpaq 7.15", chart, note=note, tables=tables
    )
    return png, page_path


def _versions() -> str:
    proc = subprocess.run([ZPAQ], capture_output=True, text=True, check=False)
    banner = (proc.stdout or proc.stderr).splitlines()[0].strip() if (proc.stdout or proc.stderr) else "zpaq"
    try:
        deb = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "zpaq"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except FileNotFoundError:
        deb = ""
    zpaq = f"{banner} (Debian package zpaq {deb})" if deb else banner
    try:
        ours = f"everybit {importlib.metadata.version('everybit')}"
    except importlib.metadata.PackageNotFoundError:
        ours = "everybit (not installed)"
    try:
        libzpaq = f", libzpaq through the `zpaq` wheel {importlib.metadata.version('zpaq')}"
    except importlib.metadata.PackageNotFoundError:
        libzpaq = ""
    return f"{ours}{libzpaq}; {zpaq}"


# ---------------------------------------------------------------- run


@dataclass(frozen=True)
class Plan:
    """Which tree each method runs on, and how many rounds."""

    trees: dict[str, int | None]  # label -> file_tree size (None: full)
    methods: tuple[tuple[int, str, int], ...]  # (method, tree label, rounds)


FULL = Plan(
    {"full tree": None, "15 MB subset": 15 * MB},
    (
        (1, "full tree", 3),
        (2, "full tree", 1),
        (3, "full tree", 3),
        (4, "15 MB subset", 1),
        (5, "15 MB subset", 1),
    ),
)
QUICK = Plan({"5 MB tree": 5 * MB}, ((1, "5 MB tree", 2), (3, "5 MB tree", 2)))


def run(quick: bool = False) -> Report:
    """Full: methods 1-3 on the ~155 MB tree (3 rounds at 1 and 3, 1 at 2), 4-5 on a ~15 MB subset (1
    round). `quick`: a ~5 MB tree, methods 1 and 3, 2 rounds. Cross-reading is checked at method 1."""
    require_zpaq()
    plan = QUICK if quick else FULL
    started, load = perf_counter(), os.getloadavg()[0]
    report = Report("imli", "imli against zpaq 7.15: size, add, incremental add, list, extract")
    summaries = []
    with tempfile.TemporaryDirectory(prefix=".imli-bench-", dir=data.cache_dir()) as tmp:
        work = Path(tmp)
        trees: dict[str, tuple[Path, Path, dict[str, Any], dict[str, Any]]] = {}
        tree_rows = []
        for label, size in plan.trees.items():
            source = data.file_tree(size)
            meta = data.provenance(source.name)
            edits = plan_edits(tree_files(source))
            v1, v2 = work / f"{source.name}-v1", work / f"{source.name}-v2"
            info1 = make_version(source, v1 / "tree")
            info2 = make_version(source, v2 / "tree", edits)
            report.add_data(
                label,
                write_manifest(v1 / "tree", work / f"{source.name}.manifest"),
                meta["source"],
                meta["versions"],
            )
            report.add_data(
                f"{label}, version 2",
                write_manifest(v2 / "tree", work / f"{source.name}-v2.manifest"),
                f"{source.name} with bench/imli.py plan_edits(seed {EDIT_SEED!r}): {info2['changed']} files "
                f"changed ({info2['inserted']} with 4 lines inserted mid-file, {info2['appended']} with 4 "
                f"appended; mtime +1 day), {info2['deleted']} deleted",
                meta["versions"],
            )
            trees[label] = (v1, v2, info1, info2)
            tree_rows.append(
                [
                    label,
                    info1["files"],
                    info1["bytes"],
                    meta["stdlib_files"],
                    meta["debtext_files"],
                    info2["changed"],
                    info2["deleted"],
                    info2["bytes_added"],
                    info2["files"],
                    info2["bytes"],
                ]
            )
        kept = {}
        for method, label, rounds in plan.methods:
            v1, v2, info1, info2 = trees[label]
            results = bench_method(method, v1, v2, work, rounds, keep=method == 1)
            summaries.append(summarise(method, label, info1, info2, results))
            if method == 1:
                kept = {t: work / f"{t}-m1.zpaq" for t in TOOLS}
        label1 = next(label for m, label, _ in plan.methods if m == 1)
        v1, v2, _, _ = trees[label1]
        checks = cross_read(kept["imli"], kept["zpaq"], v1, v2, work)
        cost = sandbox_cost(kept["imli"])
        hostile = bench_hostile(work, quick)
    elapsed = perf_counter() - started

    how = imli_command()[1]
    report.add_table(
        "Trees",
        [
            "tree",
            "files",
            "bytes",
            "stdlib .py files",
            "debtext files",
            "v2 changed",
            "v2 deleted",
            "v2 bytes added",
            "v2 files",
            "v2 bytes",
        ],
        tree_rows,
        "Version 1 is `bench.data.file_tree` (the CPython stdlib .py files under stdlib/, debtext cut at "
        "newlines into 1-4 MB files per part under debtext/, every mtime 2024-01-01 UTC). Version 2 "
        f"(`plan_edits` + `make_version`): a seeded shuffle picks {CHANGE:.0%} of the files to change (4 "
        f"lines inserted after the middle line, or appended; mtime +1 day) and {DELETE:.0%} to delete. Both "
        "are copied to a work folder as `V/tree` and added by the relative path `tree`, so both versions "
        "have the same names.",
    )
    subset_note = (
        ""
        if quick
        else " Methods 4 and 5 run on the ~15 MB subset only: zpaq codes about 1 and 0.35 MB/s there."
    )
    methods_note = ", ".join(
        f"-m {m} on the {label} ({r} round{'s' if r > 1 else ''})" for m, label, r in plan.methods
    )
    report.add_table(
        "Archive sizes",
        SIZE_COLUMNS,
        size_rows(summaries),
        f"Bytes of each archive after adding version 1 to a fresh archive, then after adding version 2 to it "
        f"(growth: the difference), first round. {methods_note}.{subset_note} Ratios are imli / zpaq; "
        f"targets: size <= {SIZE_TARGET:g}x and growth <= {GROWTH_TARGET:g}x zpaq (smaller than zpaq "
        "counts as met).",
    )
    report.add_table(
        "Wall times",
        TIME_COLUMNS,
        time_rows(summaries),
        f"Median wall seconds of each command as a subprocess, start-up included: imli through {how}, zpaq "
        f"through `{ZPAQ}` 7.15; both at -threads {THREADS} (imli -T {THREADS}), same method, same input, "
        "each on its own fresh archive. Per round every operation runs once per tool, zpaq first in even "
        "rounds and imli first in odd ones (interleaved). MB/s: version 1 bytes for add, version 2 bytes for "
        "extract. "
        "Cores used = CPU seconds (user + system, RUSAGE_CHILDREN) / wall seconds. Input in the page cache; "
        "archives, extractions and trees on the same disk. list prints every file of the latest version. "
        f"The machine's {os.cpu_count()} logical cores are shared with other work (1-minute load average "
        f"{load:.2f} when this started), so times are noisy. imli extract writes each file through "
        "everybit.common.atomic.atomic_write (temporary file, fsync, rename, folder fsync), zpaq writes in "
        "place without fsync: on many small files that per-file cost dominates imli's extract time at -m 1. "
        f"Versions: {_versions()}. Whole benchmark: {elapsed:.0f} s.",
    )
    report.add_table(
        "Reading each other's archives",
        ["reader", "writer", "check", "passed", "detail"],
        [[c["reader"], c["writer"], c["check"], c["ok"], c["detail"]] for c in checks],
        f"The -m 1 archives of the first round ({label1}, two versions): each tool lists the other's "
        "(version count and file names), extracts its latest version and version 1 (`-until 1` / "
        "`--until 1`), each compared file by file with the tree (bytes and mtime); imli also tests zpaq's "
        "archive.",
    )
    add_headlines(report, summaries, checks)
    add_safety(report, hostile, cost, label1)
    save_plot(summaries, harness.RESULTS_DIR)
    print(f"imli: done in {elapsed:.0f} s", file=sys.stderr, flush=True)
    return report
