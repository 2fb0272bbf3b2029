"""``imli VERB ARCHIVE ...``: a journaling, deduplicating archiver in the ZPAQ format (zpaq 7.15 reads it).

Verbs, with zpaq's one-letter aliases::

    add (a) ARCHIVE PATH... [-m 0..5] [-T N]     append a version: changed files, and deletions of
                                                 files gone from under PATH
    extract (x) ARCHIVE [PATH...] [--to DIR] [--until N|DATE] [-f] [-T N]
    list (l) ARCHIVE [PATH...] [--until N|DATE] [--all] [--json]
    test (t) ARCHIVE [--json] [-T N]            decode everything, check every SHA-1
    compare (c) ARCHIVE PATH...                  what differs between disk and the latest version
    delete (d) ARCHIVE PATH...                   a new version without the files under PATH
    purge ARCHIVE --to NEW [--until N|DATE] [-m 0..5]   copy one version into a new archive
    versions ARCHIVE [--json]                    the transactions: date, files added/deleted, size

Every verb takes ``--key [KEY]`` (zpaq ``-key`` compatible; prompted for when given without a value,
so write it after the archive name) and ``-q`` (no progress bars, no per-file lines). DATE is
``YYYYMMDD[HHMMSS]`` in UTC, as zpaq's ``-until``; a version number counts from 1.

Exit status: 0 on success; 1 when something failed (each damaged or refused file is reported on its
own line and the others are still extracted), or when ``compare`` found a difference; 2 for a usage
error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from everybit.cli import run_tool
from everybit.common.errors import InputError, OutputError, UsageError

_PROMPT = object()  # --key given without a value


# ---------------------------------------------------------------------------------------------- parsing


def _threads(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"threads must be a number >= 0, not {text!r}")
    return int(text)


def _method(text: str) -> int:
    if text not in ("0", "1", "2", "3", "4", "5"):
        raise argparse.ArgumentTypeError(f"method must be 0..5, not {text!r}")
    return int(text)


def _until(text: str) -> int:
    """A version number, or a date YYYYMMDD[HHMMSS] (zpaq's "2026-11-28 04:34:27" form accepted)."""
    digits = re.sub(r"[-:/ T]", "", text.strip()) if len(text.strip()) > 7 else text.strip()
    if not digits.isdigit() or (len(digits) > 7 and len(digits) not in (8, 14)):
        raise argparse.ArgumentTypeError(f"expected a version number or YYYYMMDD[HHMMSS], not {text!r}")
    return int(digits)


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
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument(
        "-T", "--threads", type=_threads, default=0, metavar="N", help="threads (default 0: all cores)"
    )
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

    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

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
        sub.set_defaults(func=func)
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
    sub.add_argument("--to", default=".", metavar="DIR", help="where to write them (default: here)")
    sub.add_argument("-f", "--force", action="store_true", help="overwrite existing files")

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
        ["t"],
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
    sub.add_argument("--to", required=True, metavar="NEW", help="the new archive")
    sub.add_argument("-f", "--force", action="store_true", help="replace NEW if it exists")

    verb(
        "versions",
        [],
        [common, as_json],
        "list the versions: date, files added and deleted, bytes",
        _versions,
    )


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
    lines = []
    for path, reason in failed:
        mentioned = path.rstrip("/") in reason or repr(path) in reason
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


def _open(args: argparse.Namespace, create: bool = False) -> Any:
    """The archive of ``args`` (InputError when missing, unless ``create``); warns about an unfinished
    or damaged tail, which readers ignore."""
    from everybit.imli.archive import Archive

    path = Path(args.archive)
    exists = path.exists()
    if not exists and not create:
        raise InputError(f"{path}: no such archive")
    archive = Archive(path, _key(args, creating=not exists))
    if exists:
        journal = archive.journal()
        state = archive.tail_state(journal)
        if state == "unfinished":
            doing = "removed now" if create else "the next add removes it"
            _warn(args, f"{path}: an interrupted update after offset {journal.end} is ignored ({doing})")
        elif state == "damaged":
            _warn(
                args,
                f"{path}: damaged data at offset {journal.end}: only the "
                f"{_n(len(journal.versions), 'version')} before it can be read",
            )
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
        args.paths or None, to=args.to, until=args.until, force=args.force, threads=args.threads
    )
    if args.paths and not result.written and not result.failed:
        raise InputError(f"{args.archive}: version {version} has no file under {', '.join(args.paths)}")
    if not args.quiet:
        lines = [f"> {name}" for name in result.written]
        failed = f", {len(result.failed)} failed" if result.failed else ""
        lines.append(
            f"{args.archive}: extracted {_n(len(result.written), 'file')} of version {version} "
            f"into {args.to}{failed}"
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
        _emit([f"{args.archive}: {_n(versions, 'version')}, {_n(n, 'file')} tested: {verdict}"])
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
    archive = _open(args)
    result = archive.delete(args.paths)
    if result.version is None:
        raise InputError(f"{args.archive}: no archived file under {', '.join(args.paths)}")
    if not args.quiet:
        lines = [f"- {name}" for name in result.deleted]
        lines.append(f"{args.archive}: version {result.version}: {len(result.deleted)} -removed")
        _emit(lines)
    return 0


def _purge(args: argparse.Namespace) -> int:
    archive = _open(args)
    target = Path(args.to)
    if target.exists() and not args.force:
        raise OutputError(f"{target}: already exists (use --force to overwrite)")
    if target.is_dir():
        raise OutputError(f"{target}: is a directory")
    journal = args._journal
    version = _resolve(archive, journal, args.until)
    files = sum(1 for p in journal.state(version) if not p.endswith("/"))
    # Written beside the target under a temporary name, then renamed: NEW is complete or absent.
    folder = tempfile.mkdtemp(prefix=f".{target.name}.everybit-tmp-", dir=target.parent)
    try:
        tmp = Path(folder) / target.name
        archive.purge(tmp, until=version, method=args.method)
        if args.force:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if NEW appeared meanwhile
    except FileExistsError as exc:
        raise OutputError(f"{target}: already exists (use --force to overwrite)") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
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
