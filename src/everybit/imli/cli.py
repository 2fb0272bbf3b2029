"""``imli VERB ARCHIVE ...``: a journaling, deduplicating archiver in the ZPAQ format (zpaq 7.15 reads it).

Verbs, with zpaq's one-letter aliases::

    add (a) ARCHIVE PATH... [-m 0..5] [-T N]     append a version: changed files, and deletions of
                                                 files gone from under PATH
    extract (x) ARCHIVE [PATH...] [-o DIR] [--until N|DATE] [-f] [-T N]
    list (l) ARCHIVE [PATH...] [--until N|DATE] [--all] [--json]
    test (t, check) ARCHIVE [--json] [-T N]     decode everything, check every SHA-1
    compare (c) ARCHIVE PATH...                  what differs between disk and the latest version
    delete (d) ARCHIVE PATH...                   a new version without the files under PATH
    purge ARCHIVE -o NEW [--until N|DATE] [-m 0..5]     copy one version into a new archive
    versions ARCHIVE [--json]                    the transactions: date, files added/deleted, size
    diff ARCHIVE V1 [V2] [--json]                files added (+), removed (-), changed (~) from
                                                 version V1 to V2 (default: the latest)
    prune ARCHIVE -o NEW --keep-{last,daily,weekly,monthly,yearly} N... [-m 0..5] [-T N] [-f]
          [-n|--dry-run] [--list]                 a new archive with the versions borg's rules keep

Every verb takes ``--key [KEY]`` (zpaq ``-key`` compatible; prompted for when given without a value,
so write it after the archive name), ``-q`` (no progress bars, no per-file lines) and ``-v`` (``test``
also names each file it checked). Options follow docs/cli.md (``-o/--out DIR``, ``-o/--output NEW``,
``-T/--threads N`` with 0 = all cores, ``--max-memory 2G`` in powers of 1024); ``--to`` is the old
spelling of ``-o``, kept one release with a warning. DATE is
``YYYYMMDD[HH[MM[SS]]]`` in UTC, as zpaq's ``-until``; a version number counts from 1, -N counts back
from the latest. zpaq 7.15's spellings work after the verb (``-until``, ``-key``, ``-to``, ``-method``,
``-threads``/``-tN``, ``-force``, ``-all``: see ``zpaq_spellings``), so ``imli x a.zpaq -to out -until 2``
runs as zpaq's command line would.

Exit status: 0 on success; 1 when something failed (each damaged or refused file is reported on its
own line and the others are still extracted), or when ``compare`` found a difference; 2 for a usage
error.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from everybit.common.cli import run_tool
from everybit.common.cliargs import (
    add_force,
    add_output_dir,
    add_output_file,
    add_threads,
    deprecated_alias,
    refuse_existing,
    size_type,
)
from everybit.common.errors import CorruptDataError, InputError, OutputError, UsageError

_PROMPT = object()  # --key given without a value
DEFAULT_BLOCK_TIMEOUT = 8.0  # everybit.imli.sandbox's, not imported: --help must not load the codec


# ---------------------------------------------------------------------------------------------- parsing


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, not {text!r}")
    return value


def _method(text: str) -> int:
    if text not in ("0", "1", "2", "3", "4", "5"):
        raise argparse.ArgumentTypeError(f"method must be 0..5, not {text!r}")
    return int(text)


def _until(text: str) -> int:
    """A version number, -N (N versions before the latest) or a date YYYYMMDD[HH[MM[SS]]] (zpaq's
    "2026-11-28 04:34:27" form accepted), as zpaq's -until takes them."""
    text = text.strip()
    if re.fullmatch(r"-\d+", text):
        return int(text)
    digits = re.sub(r"[-:/ T]", "", text) if len(text) > 7 else text
    if not digits.isdigit() or (len(digits) > 7 and len(digits) not in (8, 10, 12, 14)):
        raise argparse.ArgumentTypeError(f"expected a version number or YYYYMMDD[HHMMSS], not {text!r}")
    return int(digits)


# The prune rules, as borg names them; Archive.prune applies them in this order.
_KEEP = {
    "last": "the N newest versions",
    "daily": "the last version of each of the N latest days (UTC) that have one",
    "weekly": "the last version of each of the N latest ISO weeks (Monday to Sunday) that have one",
    "monthly": "the last version of each of the N latest months that have one",
    "yearly": "the last version of each of the N latest years that have one",
}


def _keep(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise argparse.ArgumentTypeError(f"expected a number of versions (-1: no limit), not {text!r}")
    return int(text)


# zpaq 7.15's spellings of the options imli shares -> (imli's option, what zpaq reads after it): ""
# nothing; "value" the next word, taken as is (so "-key -x" is the password "-x"); "date" the next word
# and a time word after it ("-until 2026-12-03 09:20:05"); "number?" an optional number, dropped (zpaq's
# "-all N" digits of its version folders, which imli's --all has no use for).
_ZPAQ_OPTIONS = {
    "-all": ("--all", "number?"),
    "-force": ("--force", ""),
    "-key": ("--key", "value"),
    "-method": ("--method", "value"),
    "-threads": ("--threads", "value"),
    "-t": ("--threads", "value"),
    "-to": ("-o", "value"),  # extract's folder, purge's and prune's new archive: -o in each
    "-until": ("--until", "date"),
}
_ZPAQ_THREADS = re.compile(r"-t(\d+)")  # zpaq's -tN; its -mN is argparse's own -m N
_TIME = re.compile(r"\d\d?:\d\d(:\d\d)?")


def zpaq_spellings(words: Sequence[str]) -> list[str]:
    """The words after the verb with zpaq's option spellings turned into imli's (``_ZPAQ_OPTIONS``),
    values joined as ``--option=VALUE`` so that argparse takes them whatever they look like. Words
    after ``--`` are left alone: a path spelled like a zpaq option goes there."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            return out + list(words[i - 1 :])
        threads = _ZPAQ_THREADS.fullmatch(word)
        if threads:
            out.append(f"--threads={threads[1]}")
        elif word not in _ZPAQ_OPTIONS:
            out.append(word)
        else:
            option, follows = _ZPAQ_OPTIONS[word]
            if follows in ("value", "date") and i < len(words):
                value, i = words[i], i + 1
                if follows == "date" and i < len(words) and _TIME.fullmatch(words[i]):
                    value, i = f"{value} {words[i]}", i + 1
                option = f"{option}={value}"
            elif follows == "number?" and i < len(words) and words[i].isdigit():
                i += 1
            out.append(option)
    return out


def _verb_parser(base: type[argparse.ArgumentParser]) -> type[argparse.ArgumentParser]:
    """``base`` rewriting zpaq's spellings before it parses: as the verbs' parser class it gets
    exactly the words after the verb, so the verb and the options before it are never rewritten."""

    class VerbParser(base):
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            return super().parse_known_args(None if args is None else zpaq_spellings(args), namespace)

    return VerbParser


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "%(prog)s [-q] VERB ARCHIVE [ARGS...] [--key [KEY]]"
    parser.epilog = (
        "Run '%(prog)s VERB --help' for a verb's options. Put --key after the archive name "
        "(with no value it is asked for)."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no per-file lines")
    parser.set_defaults(prog=parser.prog)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("archive", metavar="ARCHIVE", help="the archive file (zpaq's .zpaq)")
    common.add_argument(
        "--key",
        nargs="?",
        const=_PROMPT,
        metavar="KEY",
        help="password of an encrypted archive (zpaq -key); asked for when no value is given",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars, no per-file lines",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", help="more detail (test: a line per file checked)"
    )
    common.add_argument(
        "--max-memory",
        type=size_type(1 << 20),
        default=0,
        metavar="SIZE",
        help="memory for the blocks decoding at once, e.g. 2G (k, M, G: powers of 1024); a block whose "
        "model asks for more is refused (default: 1G, at most half the machine's memory)",
    )
    common.add_argument(
        "--block-timeout",
        type=_seconds,
        default=DEFAULT_BLOCK_TIMEOUT,
        metavar="SECONDS",
        help="stop a block whose program runs this long without progress (default %(default)g; a block "
        "also gets an allowance per MiB of data it declares)",
    )
    threads = argparse.ArgumentParser(add_help=False)
    add_threads(threads)
    until = argparse.ArgumentParser(add_help=False)
    until.add_argument(
        "--until",
        type=_until,
        metavar="N|DATE",
        help="as of version N, or of the last version not after DATE (YYYYMMDD[HHMMSS], UTC)",
    )
    method = argparse.ArgumentParser(add_help=False)
    method.add_argument(
        "-m",
        "--method",
        type=_method,
        default=1,
        metavar="0..5",
        help="compression: 0 stores, 5 is smallest and slowest (default 1, as zpaq)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print one JSON document")

    verbs = parser.add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=_verb_parser(type(parser))
    )

    def verb(
        name: str, aliases: list[str], parents: list, summary: str, func: Any
    ) -> argparse.ArgumentParser:
        sub = verbs.add_parser(
            name,
            aliases=aliases,
            parents=parents,
            help=summary,
            description=summary,
            prog=f"{parser.prog} {name}",
        )
        sub.set_defaults(func=_damage_exit(func))
        return sub

    sub = verb(
        "add",
        ["a"],
        [common, method, threads],
        "append a version holding the files under PATH that changed, and the deletions of those gone",
        _add,
    )
    sub.add_argument("paths", nargs="+", metavar="PATH", help="files and directories to archive")

    sub = verb(
        "extract",
        ["x"],
        [common, until, threads],
        "restore files (all, or those under PATH) as of the latest version or --until",
        _extract,
    )
    sub.add_argument(
        "paths", nargs="*", default=[], metavar="PATH", help="archived names to restore (default: all)"
    )
    add_output_dir(sub, default=Path("."), help="where to write them (default: here)")
    deprecated_alias(sub, "--to", dest="out", new="-o/--out", type=Path)
    add_force(sub, "existing files")

    sub = verb(
        "list",
        ["l"],
        [common, until, as_json],
        "list the files of the latest version (or --until): date, size, mode, version",
        _list,
    )
    sub.add_argument(
        "paths", nargs="*", default=[], metavar="PATH", help="only names under these (default: all)"
    )
    sub.add_argument("--all", action="store_true", help="every version of every file, deletions too")

    verb(
        "test",
        ["t", "check"],
        [common, threads, as_json],
        "decode every stored file and check each fragment's SHA-1",
        _test,
    )

    sub = verb(
        "compare",
        ["c"],
        [common],
        "show what differs between PATH on disk and the latest version (exit 1 if anything does)",
        _compare,
    )
    sub.add_argument("paths", nargs="+", metavar="PATH", help="files and directories to compare")

    sub = verb(
        "delete",
        ["d"],
        [common],
        "append a version in which the archived files under PATH are deleted",
        _delete,
    )
    sub.add_argument("paths", nargs="+", metavar="PATH", help="archived names to delete")

    sub = verb(
        "purge",
        [],
        [common, until, method],
        "write a new archive holding one version only (the latest, or --until)",
        _purge,
    )
    _add_new_archive(sub)

    verb(
        "versions",
        [],
        [common, as_json],
        "list the versions: date, files added and deleted, bytes",
        _versions,
    )

    sub = verb(
        "diff",
        [],
        [common, as_json],
        "show the files added (+), removed (-) and changed (~, with what changed) between two versions",
        _diff,
    )
    sub.add_argument("v1", type=_until, metavar="V1", help="a version number, -N or a date, as --until takes")
    sub.add_argument(
        "v2", type=_until, nargs="?", metavar="V2", help="the same (default: the latest version)"
    )

    sub = verb(
        "prune",
        [],
        [common, method, threads],
        "write a new archive holding the versions that borg-style --keep-* rules keep, each as it was",
        _prune,
    )
    _add_new_archive(sub)
    for rule, what in _KEEP.items():
        sub.add_argument(f"--keep-{rule}", type=_keep, default=0, metavar="N", help=f"keep {what}")
    sub.add_argument("-n", "--dry-run", action="store_true", help="write nothing, say what would be kept")
    sub.add_argument("--list", action="store_true", help="list every version kept (and why) or pruned")


def _add_new_archive(sub: argparse.ArgumentParser) -> None:
    """purge's and prune's ``-o/--output NEW`` (required, checked in ``_new_target`` so that the old
    ``--to`` still counts) and ``-f``."""
    add_output_file(sub, metavar="NEW", help="the new archive (required)")
    deprecated_alias(sub, "--to", dest="output", new="-o/--output", type=Path)
    add_force(sub, "NEW if it exists")


def _new_target(args: argparse.Namespace) -> Path:
    if args.output is None:
        raise UsageError(
            f"the following arguments are required: -o/--output (see '{args.prog} {args.verb} --help')"
        )
    return args.output


def _damage_exit(func: Any) -> Any:
    """``func``, then one error line and exit 1 when the archive was damaged (or a block of its index
    refused or stopped) after the versions it could read."""

    def run(args: argparse.Namespace) -> int:
        code = func(args)
        damage = getattr(args, "_damage", None)
        if damage is None:
            return code
        _emit([f"{_prog(args)}: error: {damage} (only the versions before it were read)"], sys.stderr)
        return 1

    return run


def main() -> NoReturn:
    """Entry point of the ``imli`` console script."""
    run_tool("imli")


# ---------------------------------------------------------------------------------------------- output


def _emit(lines: Iterable[str], stream: Any = None) -> None:
    """Lines to stdout, names that are not valid UTF-8 kept byte for byte (surrogateescape)."""
    stream = sys.stdout if stream is None else stream
    text = "".join(line + "\n" for line in lines)
    if not text:
        return
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
    else:
        buffer.write(text.encode("utf-8", "surrogateescape"))
        buffer.flush()


def _prog(args: argparse.Namespace) -> str:
    return args.prog.split()[0]  # 'imli', or 'everybit' when run as 'everybit imli'


def _warn(args: argparse.Namespace, message: str) -> None:
    _emit([f"{_prog(args)}: warning: {message}"], sys.stderr)


def _report_failures(args: argparse.Namespace, failed: Sequence[tuple[str, str]]) -> None:
    """One line per file that failed for its own reason; one line per shared reason (a damaged,
    refused or runaway block), naming the first files it affects."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in failed:
        by_reason.setdefault(reason, []).append(path)
    lines = []
    for reason, paths in by_reason.items():
        if len(paths) > 1:
            shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
            files = f"{_n(len(paths), 'file')}: {shown}"
            lines.append(f"{_prog(args)}: error: {args.archive}: {reason} ({files})")
            continue
        path = paths[0]
        mentioned = path.rstrip("/") in reason or repr(path) in reason or str(args.archive) in reason
        where = reason if mentioned else f"{args.archive}: {path}: {reason}"
        lines.append(f"{_prog(args)}: error: {where}")
    _emit(lines, sys.stderr)


def _n(count: int, what: str) -> str:
    """'1 file', '2 files'."""
    return f"{count:,} {what}" if count == 1 else f"{count:,} {what}s"


def _date(date: int) -> str:
    d = f"{date:014d}"
    return f"{d[:4]}-{d[4:6]}-{d[6:8]} {d[8:10]}:{d[10:12]}:{d[12:]}"


def _iso(date: int) -> str | None:
    return _date(date).replace(" ", "T") + "Z" if date else None


def _mode(mode: int | None, is_dir: bool) -> str:
    return "     " if mode is None else f"{'d' if is_dir else ' '}{mode & 0o7777:04o}"


def _json(doc: Any) -> None:
    _emit([json.dumps(doc, indent=1)])


# ---------------------------------------------------------------------------------------------- opening


def _key(args: argparse.Namespace, creating: bool) -> str | None:
    if args.key is not _PROMPT:
        return args.key
    with warnings.catch_warnings():  # no terminal: read from stdin, without a traceback-like warning
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        key = getpass.getpass(f"password for {args.archive}: ")
        if not key:
            raise UsageError("empty password")
        if creating and getpass.getpass("again: ") != key:
            raise UsageError("the passwords differ")
    return key


def _open(args: argparse.Namespace, create: bool = False, appending: bool = False) -> Any:
    """The archive of ``args`` (InputError when missing, unless ``create``); warns about an unfinished
    tail, which readers ignore. A damaged one is an error at once when ``create`` or ``appending``
    (writing would cut off what follows), else after a read verb's output (``_damage_exit``)."""
    from everybit.imli.archive import Archive

    path = Path(args.archive)
    exists = path.exists()
    if not exists and not create:
        raise InputError(f"{path}: no such archive")
    archive = Archive(
        path,
        _key(args, creating=not exists),
        max_memory=args.max_memory,
        block_timeout=args.block_timeout,
    )
    if exists:
        journal = archive.journal()
        state = archive.tail_state(journal)
        if state == "unfinished":
            doing = "removed now" if create else "the next add removes it"
            _warn(args, f"{path}: an interrupted update after offset {journal.end} is ignored ({doing})")
        elif state == "damaged":
            # Readers go on with the versions before the damage and fail at the end (``_damage_exit``);
            # writers stop here: appending would cut off what follows.
            args._damage = journal.damage or f"{path}: damaged data at offset {journal.end}"
            if create or appending:
                raise CorruptDataError(f"{args._damage} (not appending: the archive is damaged there)")
        args._journal = journal
    return archive


def _resolve(archive: Any, journal: Any, until: int | None) -> int:
    """The number of the version that ``--until`` selects (the latest when absent)."""
    count = archive._until(journal, until)
    return len(journal.versions) if count is None else min(count, len(journal.versions))


def _under(name: str, paths: Sequence[str]) -> bool:
    tops = [p.rstrip("/") for p in paths]
    return any(name.rstrip("/") == t or name.startswith(t + "/") for t in tops)


# ---------------------------------------------------------------------------------------------- verbs


def _add(args: argparse.Namespace) -> int:
    archive = _open(args, create=True)
    result = archive.add(args.paths, method=args.method, threads=args.threads)
    if args.quiet:
        return 0
    lines = [f"+ {name}" for name in result.added] + [f"- {name}" for name in result.deleted]
    if result.version is None:
        count = len(args._journal.versions) if hasattr(args, "_journal") else 0
        lines.append(f"{args.archive}: no changes, still at version {count}")
    else:
        lines.append(
            f"{args.archive}: version {result.version}: {len(result.added)} +added, "
            f"{len(result.deleted)} -removed, {result.bytes_in:,} bytes in "
            f"({_n(result.new_fragments, 'new fragment')}) -> {result.bytes_written:,} bytes written, "
            f"archive {archive.path.stat().st_size:,} bytes"
        )
    _emit(lines)
    return 0


def _extract(args: argparse.Namespace) -> int:
    archive = _open(args)
    version = _resolve(archive, args._journal, args.until)
    result = archive.extract(
        args.paths or None, to=args.out, until=args.until, force=args.force, threads=args.threads
    )
    if args.paths and not result.written and not result.failed:
        raise InputError(f"{args.archive}: version {version} has no file under {', '.join(args.paths)}")
    if not args.quiet:
        lines = [f"> {name}" for name in result.written]
        failed = f", {len(result.failed)} failed" if result.failed else ""
        lines.append(
            f"{args.archive}: extracted {_n(len(result.written), 'file')} of version {version} "
            f"into {args.out}{failed}"
        )
        _emit(lines)
    _report_failures(args, result.failed)
    return 1 if result.failed else 0


def _list(args: argparse.Namespace) -> int:
    archive = _open(args)
    journal = args._journal
    version = _resolve(archive, journal, args.until)
    rows = archive.list(until=version, all_versions=args.all)
    if args.paths:
        rows = [r for r in rows if _under(r["path"], args.paths)]
    dates = {v.number: v.date for v in journal.versions}
    files = [r for r in rows if not r["path"].endswith("/") and not r["deleted"]]
    total = sum(r["size"] for r in files)
    if args.json:
        _json(
            {
                "archive": str(args.archive),
                "version": version,
                "versions": len(journal.versions),
                "files": [
                    {
                        "path": r["path"],
                        "type": "dir" if r["path"].endswith("/") else "file",
                        "size": r["size"],
                        "date": _iso(r["date"]),
                        "version": r["version"],
                        "version_date": _iso(dates[r["version"]]),
                        "mode": None if r["mode"] is None else r["mode"] & 0o7777,
                        "deleted": r["deleted"],
                    }
                    for r in rows
                ],
                "total_size": total,
            }
        )
        return 0
    lines = []
    for r in rows:
        is_dir = r["path"].endswith("/")
        if r["deleted"]:
            lines.append(
                f"- {_date(dates[r['version']])} {'deleted':>12}       {r['version']:>4} {r['path']}"
            )
        else:
            size = "" if is_dir else f"{r['size']}"
            mode = _mode(r["mode"], is_dir)
            lines.append(f"- {_date(r['date'])} {size:>12} {mode} {r['version']:>4} {r['path']}")
    dirs = sum(1 for r in rows if r["path"].endswith("/") and not r["deleted"])
    if args.all:
        lines.append(
            f"{_n(len(rows), 'record')} ({_n(len(files), 'file version')}, {total:,} bytes) "
            f"in versions 1 to {version} of {len(journal.versions)}"
        )
    else:
        lines.append(
            f"{_n(len(files), 'file')}, {_n(dirs, 'dir')}, {total:,} bytes "
            f"(version {version} of {len(journal.versions)})"
        )
    _emit(lines)
    return 0


def _test(args: argparse.Namespace) -> int:
    archive = _open(args)
    result = archive.test(threads=args.threads)
    versions = len(args._journal.versions)
    if args.json:
        _json(
            {
                "archive": str(args.archive),
                "versions": versions,
                "ok": not result.failed,
                "tested": len(result.written) + len(result.failed),
                "failed": [{"path": p, "reason": r} for p, r in result.failed],
            }
        )
    else:
        n = len(result.written) + len(result.failed)
        verdict = f"{len(result.failed)} damaged" if result.failed else "all OK"
        checked = [f"= {name}" for name in result.written] if args.verbose else []
        _emit([*checked, f"{args.archive}: {_n(versions, 'version')}, {_n(n, 'file')} tested: {verdict}"])
    _report_failures(args, result.failed)
    return 1 if result.failed else 0


_MARKS = {"not in archive": "+", "not on disk": "-"}


def _compare(args: argparse.Namespace) -> int:
    archive = _open(args)
    diffs = archive.compare(args.paths)
    lines = [f"{_MARKS.get(how, '#')} {name}: {how}" for name, how in diffs]
    latest = len(args._journal.versions)
    lines.append(
        f"{len(diffs)} differences from version {latest}"
        if diffs
        else f"no differences from version {latest}"
    )
    _emit(lines)
    return 1 if diffs else 0


def _delete(args: argparse.Namespace) -> int:
    archive = _open(args, appending=True)
    result = archive.delete(args.paths)
    if result.version is None:
        raise InputError(f"{args.archive}: no archived file under {', '.join(args.paths)}")
    if not args.quiet:
        lines = [f"- {name}" for name in result.deleted]
        lines.append(f"{args.archive}: version {result.version}: {len(result.deleted)} -removed")
        _emit(lines)
    return 0


@contextlib.contextmanager
def _new_archive(target: Path, force: bool) -> Iterator[Path]:
    """A temporary path beside ``target`` to write a new archive at, renamed to ``target`` when the
    block succeeds: NEW is complete or absent. An existing NEW is refused unless ``force``."""
    refuse_existing(target, force)
    if target.is_dir():
        raise OutputError(f"{target}: is a directory")
    folder = tempfile.mkdtemp(prefix=f".{target.name}.everybit-tmp-", dir=target.parent)
    try:
        tmp = Path(folder) / target.name
        yield tmp
        if force:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if NEW appeared meanwhile
    except FileExistsError as exc:
        raise OutputError(f"{target}: already exists (use --force to overwrite)") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _purge(args: argparse.Namespace) -> int:
    target = _new_target(args)
    archive = _open(args)
    journal = args._journal
    version = _resolve(archive, journal, args.until)
    files = sum(1 for p in journal.state(version) if not p.endswith("/"))
    with _new_archive(target, args.force) as tmp:
        archive.purge(tmp, until=version, method=args.method)
    if not args.quiet:
        _emit(
            [
                f"{target}: version {version} of {args.archive} ({_n(files, 'file')}), "
                f"{target.stat().st_size:,} bytes (was {archive.path.stat().st_size:,})"
            ]
        )
    return 0


def _versions(args: argparse.Namespace) -> int:
    archive = _open(args)
    journal = args._journal
    rows = []
    ends = [v.offset for v in journal.versions[1:]] + [journal.end]
    for v, end in zip(journal.versions, ends, strict=True):
        added = [e for e in v.entries if not e.deleted]
        rows.append(
            {
                "version": v.number,
                "date": _iso(v.date),
                "added": len(added),
                "deleted": len(v.entries) - len(added),
                "data_bytes": sum(journal.size_of(e) for e in added if not e.is_dir),
                "archive_bytes": end - v.offset,
                "offset": v.offset,
            }
        )
    if args.json:
        _json({"archive": str(args.archive), "versions": rows, "archive_bytes": archive.path.stat().st_size})
        return 0
    lines = [
        f"{'version':>7}  {'date (UTC)':<19}  {'+added':>7}  {'-deleted':>8}  {'data':>14}  {'stored':>14}"
    ]
    for r, v in zip(rows, journal.versions, strict=True):
        lines.append(
            f"{r['version']:>7}  {_date(v.date)}  {r['added']:>7}  {r['deleted']:>8}  "
            f"{r['data_bytes']:>14,}  {r['archive_bytes']:>14,}"
        )
    lines.append(f"{_n(len(rows), 'version')}, {archive.path.stat().st_size:,} bytes")
    _emit(lines)
    return 0


def _diff(args: argparse.Namespace) -> int:
    archive = _open(args)
    journal = args._journal
    v1, v2 = (_resolve(archive, journal, v) for v in (args.v1, args.v2))
    changes = archive.diff(v1, v2)
    by_mark = {mark: [c for c in changes if c.mark == mark] for mark in "+-~"}
    if args.json:
        dates = {0: None} | {v.number: _iso(v.date) for v in journal.versions}
        _json(
            {
                "archive": str(args.archive),
                "from": {"version": v1, "date": dates[v1]},
                "to": {"version": v2, "date": dates[v2]},
                "added": [c.path for c in by_mark["+"]],
                "removed": [c.path for c in by_mark["-"]],
                "changed": [{"path": c.path, "what": list(c.what)} for c in by_mark["~"]],
            }
        )
        return 0
    lines = [f"{c.mark} {c.path}" + (f" ({', '.join(c.what)})" if c.what else "") for c in changes]
    counts = f"{len(by_mark['+'])} added, {len(by_mark['-'])} removed, {len(by_mark['~'])} changed"
    between = f"version {v1} and version {v2}"
    lines.append(f"{counts} between {between}" if changes else f"no differences between {between}")
    _emit(lines)
    return 0


def _prune_lines(journal: Any, kept: dict[int, str], dry_run: bool) -> list[str]:
    """borg's ``prune --list``: every version, newest first, kept (and by which rule) or pruned."""
    pruned = "Would prune:" if dry_run else "Pruning:"
    labels = {
        v.number: f"Keeping (rule: {kept[v.number]}):" if v.number in kept else pruned
        for v in journal.versions
    }
    width = max(map(len, labels.values()), default=0)
    newest_first = reversed(journal.versions)
    return [f"{labels[v.number]:<{width}}  version {v.number:>4}  {_date(v.date)}" for v in newest_first]


def _prune(args: argparse.Namespace) -> int:
    rules = {f"keep_{rule}": getattr(args, f"keep_{rule}") for rule in _KEEP}
    if not any(rules.values()):
        options = ", ".join(f"--keep-{rule}" for rule in _KEEP)
        raise UsageError(f"prune needs at least one rule: {options} (see '{args.prog} prune --help')")
    target = _new_target(args)
    archive = _open(args)
    journal = args._journal
    if args.dry_run:
        kept = archive.prune(target, **rules, dry_run=True)
    else:
        with _new_archive(target, args.force) as tmp:
            kept = archive.prune(tmp, **rules, method=args.method, threads=args.threads)
    if args.list:
        _emit(_prune_lines(journal, kept, args.dry_run))
    of = f"{len(kept)} of {_n(len(journal.versions), 'version')}"
    if args.dry_run:
        _emit([f"{args.archive}: would keep {of} (dry run: nothing written)"])
    elif not args.quiet:
        sizes = f"{target.stat().st_size:,} bytes (was {archive.path.stat().st_size:,})"
        _emit([f"{target}: kept {of} of {args.archive}, {sizes}"])
    return 0
