"""``Archive``: add, list, extract, test, compare, delete and purge on a ZPAQ journaling archive."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from everybit.common.atomic import atomic_write
from everybit.common.errors import CorruptDataError, InputError, OutputError, UsageError
from everybit.common.parallel import Pipeline, resolve_threads
from everybit.common.progress import progress_bar
from everybit.imli import methods
from everybit.imli.blocks import BlockError, read_block
from everybit.imli.extract import safe_target, set_metadata, target_path
from everybit.imli.journal import (
    Decode,
    Entry,
    Journal,
    Version,
    _journal_kind,
    c_block,
    d_block_data,
    date_of,
    describe,
    h_block_data,
    i_record,
    journal_block,
    read_journal,
    timestamp_of,
)
from everybit.imli.sandbox import DEFAULT_BLOCK_TIMEOUT, Budget, Decoder

if TYPE_CHECKING:
    from everybit.imli import history, restore

# restore (extract, test, purge), history (diff, prune) and chunker (add) are imported by the methods
# that use them: `imli list` then starts without them.


I_BLOCK_BYTES = 16000  # zpaq starts a new i block after this many bytes of records


@dataclass
class AddResult:
    version: int | None  # None when nothing changed (no transaction written)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_in: int = 0
    new_fragments: int = 0
    bytes_written: int = 0


@dataclass
class ExtractResult:
    written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _archive_name(path: Path) -> str:
    """How a disk path is recorded: as given, '/'-separated, directories ending in '/'."""
    name = path.as_posix()
    return name + "/" if path.is_dir() and not path.is_symlink() and not name.endswith("/") else name


def _walk(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(archive name, disk path, stat) for every file and directory under ``paths``, sorted."""
    for top in paths:
        top = Path(top)
        st = top.lstat()  # FileNotFoundError reaches the user as "name: No such file or directory"
        yield _archive_name(top), top, st
        if stat.S_ISDIR(st.st_mode):
            for root, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(dirs) + sorted(files):
                    p = Path(root) / name
                    st = p.lstat()
                    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                        yield _archive_name(p), p, st


def _next_date(journal: Journal) -> int:
    """Now, or one second after the last version: zpaq keeps version dates increasing (as its
    "adjusting date" warning shows), so that -until DATE picks a well-defined version."""
    now = date_of(time.time())
    if journal.versions and now <= journal.versions[-1].date:
        return date_of(timestamp_of(journal.versions[-1].date) + 1)
    return now


def _attr(st: os.stat_result) -> bytes:
    return b"u" + (st.st_mode & 0xFFFF).to_bytes(2, "little")


def _under(name: str, tops: list[str]) -> bool:
    return any(name == t or name.startswith(t.rstrip("/") + "/") for t in tops)


class Archive:
    """A ZPAQ journaling archive at ``path`` (created by the first ``add``).

    Blocks are decoded in sandboxed worker processes (``everybit.imli.sandbox``): ``max_memory`` bytes
    (0: the default, 1 GiB or half the machine's memory) for all blocks decoding at once, and
    ``block_timeout`` seconds (plus an allowance per MiB a block declares) before a block is stopped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str | bytes | None = None,
        *,
        max_memory: int = 0,
        block_timeout: float = DEFAULT_BLOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.key = key.encode() if isinstance(key, str) else key
        self.budget = Budget(max_memory, block_timeout)
        self._cached: tuple[tuple[int, int, int], Journal] | None = None

    # ---------------------------------------------------------------- reading

    def _open_reader(self) -> BinaryIO:
        """The archive's payload, decrypted when it has a key (the caller closes it)."""
        fp = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        if self.key is None:
            return fp
        from everybit.imli import crypto

        try:
            return crypto.open_encrypted_reader(fp, self.key)
        except BaseException:
            fp.close()
            raise

    @contextlib.contextmanager
    def _reader(self) -> Iterator[BinaryIO]:
        fp = self._open_reader()
        try:
            yield fp
        finally:
            fp.close()

    def journal(self) -> Journal:
        """The archive's index (kept while the file is unchanged: a verb that opens the archive, then
        works on it, decodes each index block once, a runaway one included)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such archive") from None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        journal = self._read_journal()
        self._cached = (key, journal)
        return journal

    def _read_journal(self) -> Journal:
        if self.key is None:
            from everybit.imli import crypto

            with open(self.path, "rb") as raw:
                if crypto.looks_encrypted(raw.read(crypto.SALT_SIZE)):
                    raise InputError(f"{self.path}: encrypted, or not a ZPAQ archive (no key given)")
        with self._reader() as fp, Decoder(self.budget) as decode:
            journal = read_journal(fp, decode)
            if journal.damage is not None:
                journal.damage = f"{self.path}: {journal.damage}"
            if journal.incomplete:
                journal.tail = _tail(fp, journal, decode)
            if journal.incomplete and not journal.versions and journal.end == 0 and journal.tail:
                if journal.damage and "block at offset 0" not in journal.damage:
                    raise CorruptDataError(journal.damage)
                raise CorruptDataError(f"{self.path}: not a ZPAQ archive (no readable block at offset 0)")
        return journal

    def tail_state(self, journal: Journal | None = None) -> str | None:
        """What follows the last complete version: None (nothing), "unfinished" (an interrupted update,
        which readers ignore and the next add cuts off) or "damaged" (anything else; add refuses)."""
        journal = self.journal() if journal is None else journal
        if not journal.incomplete:
            return None
        return journal.tail or "unfinished"

    def versions(self) -> list[Version]:
        return self.journal().versions

    def list(self, until: int | None = None, all_versions: bool = False) -> list[dict]:
        """Files as of version ``until`` (latest by default); with ``all_versions`` every record."""
        journal = self.journal()
        until = self._until(journal, until)
        if all_versions:
            entries = [e for v in journal.versions[:until] for e in v.entries]
        else:
            entries = sorted(journal.state(until).values(), key=lambda e: e.path)
        return [
            {
                "path": e.path,
                "version": e.version,
                "date": e.date,
                "size": journal.size_of(e),
                "mode": e.mode,
                "deleted": e.deleted,
                "fragments": len(e.fragments),
            }
            for e in entries
        ]

    @staticmethod
    def _until(journal: Journal, until: int | None) -> int | None:
        """A version count from a version number, -N (N versions before the latest, as zpaq's -until
        -N) or a YYYYMMDD[HH[MM[SS]]] date (the versions not after it; a missing time is the end of
        that day, hour or minute, as zpaq pads it)."""
        if until is None or 0 <= until < 10_000_000:
            return until
        if until < 0:
            return max(len(journal.versions) + until, 0)
        digits = len(str(until))
        date = int(f"{until}{'235959'[digits - 8 :]}") if digits in (8, 10, 12, 14) else 0
        if not 19_000_101_000_000 <= date <= 99_991_231_235_959:
            raise UsageError(f"--until {until}: not a version number or a YYYYMMDD[HHMMSS] date")
        return sum(1 for v in journal.versions if v.date <= date)

    # ---------------------------------------------------------------- adding

    def add(
        self,
        paths: Iterable[str | os.PathLike[str]],
        method: int = 1,
        threads: int = 0,
        *,
        deletions: bool = True,
        quiet: bool | None = None,
    ) -> AddResult:
        """Append a version with the files under ``paths`` that changed and the ones that are gone."""
        paths = list(paths)
        journal = self.journal() if self.path.exists() else Journal()
        old = journal.state()
        hashes = {f.sha1: fid for fid, f in journal.fragments.items()}
        date = _next_date(journal)
        result = AddResult(None)
        changed: list[tuple[str, Path, os.stat_result]] = []
        seen = set()
        for name, disk, st in _walk(paths):
            seen.add(name)
            prev = old.get(name)
            if (
                prev
                and prev.date == date_of(st.st_mtime)
                and prev.attr == _attr(st)
                and (name.endswith("/") or journal.size_of(prev) == st.st_size)
            ):
                continue
            changed.append((name, disk, st))
        tops = [_archive_name(Path(p)) for p in paths]
        gone = [n for n in old if deletions and _under(n, tops) and n not in seen]
        if not changed and not gone:
            return result
        with _TransactionWriter(self, journal, date, method, threads, hashes) as writer:
            entries = writer.store(changed, result, quiet)
            entries += [Entry(n, 0, b"", [], 0) for n in gone]
            result.bytes_written = writer.finish(entries)
        result.deleted = gone
        result.version = len(journal.versions) + 1
        return result

    def delete(self, paths: Iterable[str], quiet: bool | None = None) -> AddResult:
        """A new version in which the archived files under ``paths`` are marked deleted."""
        journal = self.journal()
        tops = [p.rstrip("/") for p in paths]
        gone = [n for n in journal.state() if _under(n, tops) or n.rstrip("/") in tops]
        result = AddResult(None, deleted=gone)
        if gone:
            with _TransactionWriter(self, journal, _next_date(journal), 0, 1, {}) as writer:
                result.bytes_written = writer.finish([Entry(n, 0, b"", [], 0) for n in gone])
            result.version = len(journal.versions) + 1
        return result

    # ---------------------------------------------------------------- extracting and testing

    def extract(
        self,
        names: Iterable[str] | None = None,
        to: str | os.PathLike[str] | None = None,
        until: int | None = None,
        force: bool = False,
        threads: int = 0,
        quiet: bool | None = None,
    ) -> ExtractResult:
        """Restore files (all, or those under ``names``) as of version ``until`` into ``to``."""
        from everybit.imli import restore

        journal = self.journal()
        files = journal.state(self._until(journal, until))
        if names is not None:
            tops = [n.rstrip("/") for n in names]
            files = {p: e for p, e in files.items() if _under(p, tops) or p.rstrip("/") in tops}
        root = os.fspath(to) if to is not None else "."
        result = ExtractResult()
        regular = sorted((e for e in files.values() if not e.is_dir), key=lambda e: (e.fragments[:1], e.path))
        extraction = restore.Extraction(
            journal, root, self._plan_files(journal, root, regular, result), force
        )
        total = sum(job.declared for job in extraction.jobs.values())
        dirs = sorted((e for e in files.values() if e.is_dir), key=lambda e: e.path)
        try:
            with self._reader() as fp:
                extraction.start(fp, self._open_reader, resolve_threads(threads), self.budget)
                # while the workers decode: folders, and files with nothing to decode
                safe_dirs: set[str] = set()
                for e in dirs:
                    try:
                        safe_target(root, e.path, safe_dirs).mkdir(parents=True, exist_ok=True)
                    except (InputError, OSError) as exc:
                        result.failed.append((e.path, str(exc)))
                for e in regular:
                    if not e.fragments:
                        self._write_empty(root, e, force, safe_dirs, result)
                with progress_bar(total, "extract", quiet=quiet) as bar:
                    extraction.wait(bar.update)
        finally:
            extraction.close()
        order = {e.path: i for i, e in enumerate(regular)}
        done = [f.entry.path for f in extraction.files if f.done]
        result.written = sorted(result.written + done, key=order.__getitem__)
        result.failed += [(f.entry.path, f.error or "not extracted") for f in extraction.files if not f.done]
        for e in reversed(dirs):  # after their files: keep the dates
            with contextlib.suppress(InputError, OSError, ValueError):
                set_metadata(safe_target(root, e.path), e.mode, timestamp_of(e.date))
        return result

    @staticmethod
    def _plan_files(
        journal: Journal, root: str, regular: list[Entry], result: ExtractResult
    ) -> list[restore.OutFile]:
        """Where each file with data goes and which blocks fill it, from the index alone (the workers
        check the file system); files that cannot be extracted (unsafe name, missing fragment) go to
        ``result.failed``."""
        from everybit.imli import restore

        run = os.urandom(4).hex()
        plan = []
        for e in regular:
            if not e.fragments:
                continue
            try:
                target = target_path(root, e.path)
            except InputError as exc:
                result.failed.append((e.path, str(exc)))
                continue
            missing = [f for f in e.fragments if f not in journal.fragments]
            if missing:
                result.failed.append((e.path, f"fragment {missing[0]} is missing"))
                continue
            f = restore.OutFile(e, target, restore.temp_name(target, run, len(plan)), set())
            at = 0
            for fid in e.fragments:
                frag = journal.fragments[fid]
                f.writes.append((frag.block, frag.index, at))
                f.blocks.add(frag.block)
                at += frag.size
            plan.append(f)
        return plan

    @staticmethod
    def _write_empty(root: str, e: Entry, force: bool, checked: set[str], result: ExtractResult) -> None:
        try:
            target = safe_target(root, e.path, checked)
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(target, overwrite=force, fsync=False):
                pass
            set_metadata(target, e.mode, timestamp_of(e.date))
            result.written.append(e.path)
        except (InputError, OutputError, OSError, ValueError) as exc:
            result.failed.append((e.path, str(exc)))

    def test(self, threads: int = 0, quiet: bool | None = None) -> ExtractResult:
        """Decode every block of every version and check every fragment's SHA-1."""
        from everybit.imli import restore

        journal = self.journal()
        if self.tail_state(journal) == "damaged":  # an interrupted add's leftovers are harmless
            raise CorruptDataError(journal.damage or f"{self.path}: damaged data after offset {journal.end}")
        everything = {  # every record of every version, so older versions' blocks are checked too
            (e.path, e.version): e
            for v in journal.versions
            for e in v.entries
            if not e.deleted and not e.is_dir
        }
        result = ExtractResult()
        entries = sorted(everything.values(), key=lambda e: (e.fragments[:1], e.path))
        with self._reader() as fp:
            for entry, error in restore.verify(
                fp, self._open_reader, journal, entries, resolve_threads(threads), self.budget
            ):
                if error is None:
                    result.written.append(entry.path)
                else:
                    result.failed.append((entry.path, error))
        return result

    def compare(self, paths: Iterable[str | os.PathLike[str]]) -> list[tuple[str, str]]:
        """(name, how it differs) for each file that differs between disk and the latest version."""
        journal = self.journal()
        files = journal.state()
        paths = list(paths)
        tops = [_archive_name(Path(p)) for p in paths]
        diffs, seen = [], set()
        for name, _disk, st in _walk(paths):
            seen.add(name)
            e = files.get(name)
            if e is None:
                diffs.append((name, "not in archive"))
            elif e.date != date_of(st.st_mtime):
                diffs.append((name, "date differs"))
            elif e.attr != _attr(st):
                diffs.append((name, "mode differs"))
            elif not name.endswith("/") and journal.size_of(e) != st.st_size:
                diffs.append((name, "size differs"))
        diffs += [(n, "not on disk") for n in files if _under(n, tops) and n not in seen]
        return sorted(diffs)

    def purge(self, to: str | os.PathLike[str], until: int | None = None, method: int = 1) -> int:
        """Write a new archive at ``to`` holding only the chosen version; returns its size."""
        journal = self.journal()
        files = journal.state(self._until(journal, until))
        regular = sorted((e for e in files.values() if not e.is_dir), key=lambda e: (e.fragments[:1], e.path))
        target = Archive(to, self.key)
        if target.path.exists():
            raise OutputError(f"{target.path}: already exists")
        date = max(v.date for v in journal.versions)
        failed = ExtractResult()
        with self._reader() as fp, _TransactionWriter(target, Journal(), date, method, 0, {}) as writer:
            entries = writer.store_contents(_contents(fp, journal, regular, 0, failed, self), AddResult(None))
            if failed.failed:  # a copy missing files would pass for the version: write nothing
                (path, reason), more = failed.failed[0], len(failed.failed) - 1
                also = f" (and {more} more file{'s' if more > 1 else ''})" if more else ""
                raise CorruptDataError(f"{self.path}: {path}: {reason}{also}; nothing written")
            entries += [Entry(e.path, e.date, e.attr, [], 0) for e in files.values() if e.is_dir]
            return writer.finish(entries)

    def diff(self, v1: int, v2: int) -> list[history.Change]:
        """What changed from version ``v1`` to ``v2`` (numbers or dates, as ``until`` takes them)."""
        from everybit.imli import history

        journal = self.journal()
        count = len(journal.versions)
        return history.diff(
            journal, min(self._until(journal, v1), count), min(self._until(journal, v2), count)
        )

    def prune(
        self,
        to: str | os.PathLike[str],
        *,
        keep_last: int = 0,
        keep_daily: int = 0,
        keep_weekly: int = 0,
        keep_monthly: int = 0,
        keep_yearly: int = 0,
        method: int = 1,
        threads: int = 0,
        dry_run: bool = False,
    ) -> dict[int, str]:
        """Write a new archive at ``to`` holding the versions that borg's prune rules keep (N < 0: no
        limit), each with its date and file state; returns the kept version numbers with the rule
        that kept each ("daily #2"). With ``dry_run`` nothing is written."""
        from everybit.imli import history

        rules = {
            "last": keep_last,
            "daily": keep_daily,
            "weekly": keep_weekly,
            "monthly": keep_monthly,
            "yearly": keep_yearly,
        }
        if not any(rules.values()):
            raise UsageError("prune needs at least one --keep-* rule")
        journal = self.journal()
        kept = history.select([(v.number, v.date) for v in journal.versions], rules)
        if dry_run:
            return kept
        if not kept:
            raise InputError(f"{self.path}: no version to keep")
        target = Archive(to, self.key)
        if target.path.exists():
            raise OutputError(f"{target.path}: already exists")
        hashes: dict[bytes, int] = {}  # over the new archive: a kept version costs only what is new
        before: dict[str, Entry] = {}
        with self._reader() as fp:
            for number, after in history.states(journal, kept):
                self._copy_version(fp, journal, number, before, after, target, method, threads, hashes)
                before = after
        return kept

    def _copy_version(
        self,
        fp: BinaryIO,
        journal: Journal,
        number: int,
        before: dict[str, Entry],
        after: dict[str, Entry],
        target: Archive,
        method: int,
        threads: int,
        hashes: dict[bytes, int],
    ) -> None:
        """Append to ``target`` one transaction dated as version ``number`` that turns state ``before``
        into ``after``, as zpaq writes one: the records that changed and the deletions."""
        from everybit.imli import history

        changed = history.changes(before, after)
        records = [after[c.path] for c in changed if c.mark != history.REMOVED]
        regular = sorted((e for e in records if not e.is_dir), key=lambda e: (e.fragments[:1], e.path))
        done = target.journal() if target.path.exists() else Journal()
        date = journal.versions[number - 1].date
        failed = ExtractResult()
        with _TransactionWriter(target, done, date, method, threads, hashes) as writer:
            entries = writer.store_contents(
                _contents(fp, journal, regular, threads, failed, self), AddResult(None)
            )
            if failed.failed:  # the new archive must hold every kept state whole: write nothing
                path, reason = failed.failed[0]
                raise CorruptDataError(f"{self.path}: version {number}: {path}: {reason}")
            entries += [Entry(e.path, e.date, e.attr, [], 0) for e in records if e.is_dir]
            entries += [Entry(c.path, 0, b"", [], 0) for c in changed if c.mark == history.REMOVED]
            writer.finish(entries)


def _contents(
    fp: BinaryIO,
    journal: Journal,
    entries: list[Entry],
    threads: int,
    result: ExtractResult,
    archive: Archive,
) -> Iterator[tuple[Entry, bytes]]:
    """Each entry with its content, every d block decoded once in ``archive``'s sandbox (SHA-1 checks
    included); damaged files are recorded in ``result.failed`` and skipped."""
    from everybit.imli import restore

    for e, content in restore.contents(
        fp, archive._open_reader, journal, entries, resolve_threads(threads), archive.budget
    ):
        if isinstance(content, str):
            result.failed.append((e.path, content))
        else:
            yield e, content


class _TransactionWriter:
    """Writes one transaction as it goes: c (size -1), each d block as soon as it is full (compressed
    on the thread pool, so memory stays ~ block size x threads), then h and i blocks, then patches c.

    New fragments go into d blocks in zpaq's file order, split and given method strings by
    ``BlockPlanner`` exactly as zpaq 7.15 does, so the archives come out the same size.
    """

    def __init__(
        self, archive: Archive, journal: Journal, date: int, method: int, threads: int, hashes: dict
    ) -> None:
        from everybit.imli.chunker import BlockPlanner

        self.archive, self.date = archive, date
        self.hashes = hashes  # sha1 -> fragment id, over the archive and this transaction
        self.first = self.next_id = journal.next_fragment
        self.planner = BlockPlanner(methods.normalise(method))
        self.current: list[bytes] = []
        self.current_first = self.first
        self.pipe = Pipeline(resolve_threads(threads))
        self.written: list[tuple[int, list[tuple[bytes, int]], int]] = []  # (first id, (sha1, size)s, size)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _TransactionWriter:
        self.fp, self.start = self._stack.enter_context(_appender(self.archive))
        self._stack.callback(self.pipe.close)
        self.cblock = c_block(self.date, self.first, -1)
        self.fp.write(self.cblock)
        return self

    def __exit__(self, *exc: object) -> bool | None:
        return self._stack.__exit__(*exc)

    def _make_d(
        self, first: int, frags: list[bytes], method: str
    ) -> tuple[int, list[tuple[bytes, int]], bytes]:
        info = [(hashlib.sha1(f).digest(), len(f)) for f in frags]
        return (
            first,
            info,
            journal_block(self.date, "d", first, d_block_data(frags), methods.compressor(method)),
        )

    def _write_d(self, results: list[tuple[int, list[tuple[bytes, int]], bytes]]) -> None:
        for first, info, blob in results:
            self.fp.write(blob)
            self.written.append((first, info, len(blob)))

    def _close_block(self) -> None:
        if self.current:
            self._write_d(
                self.pipe.submit(self._make_d, self.current_first, self.current, self.planner.method())
            )
            self.planner.flushed()
        self.current, self.current_first = [], self.next_id

    def _file(self, src: BinaryIO | bytes, size: int) -> list[int]:
        """Fragment ids of one file's content, storing the fragments the archive lacks."""
        from everybit.imli.chunker import fragments

        ids = []
        for j, (piece, st) in enumerate(fragments(src, stats=True)):
            digest = hashlib.sha1(piece).digest()
            fid = self.hashes.get(digest)
            if fid is None:
                if self.planner.add(st, first_of_file=j == 0, file_size=size):
                    self._close_block()
                self.planner.commit()
                fid = self.hashes[digest] = self.next_id
                self.next_id += 1
                self.current.append(bytes(piece))  # the piece may be a view of a reused buffer
            ids.append(fid)
        return ids

    def store(
        self, changed: list[tuple[str, Path, os.stat_result]], result: AddResult, quiet: bool | None
    ) -> list[Entry]:
        from everybit.imli.chunker import file_order_key

        files = [c for c in changed if not stat.S_ISDIR(c[2].st_mode)]
        files.sort(key=lambda c: file_order_key(c[0], c[2].st_size))
        entries = {name: Entry(name, date_of(st.st_mtime), _attr(st), [], 0) for name, _, st in changed}
        with progress_bar(sum(st.st_size for _, _, st in files), "add", quiet=quiet) as bar:
            for name, disk, st in files:
                with open(disk, "rb") as src:
                    entries[name].fragments = self._file(src, st.st_size)
                    done = src.tell()
                result.bytes_in += done
                bar.update(done)
        result.added = [name for name, _, _ in changed]
        result.new_fragments = self.next_id - self.first
        return list(entries.values())

    def store_contents(self, contents: Iterable[tuple[Entry, bytes]], result: AddResult) -> list[Entry]:
        entries = []
        for e, data in contents:
            entries.append(Entry(e.path, e.date, e.attr, self._file(data, len(data)), 0))
            result.added.append(e.path)
        return entries

    def finish(self, entries: list[Entry]) -> int:
        """Write the rest of the transaction and commit it; returns the bytes it added to the archive."""
        self._close_block()
        self._write_d(self.pipe.drain())
        for first, info, size in self.written:
            self.fp.write(journal_block(self.date, "h", first, h_block_data(size, info)))
        entries.sort(key=lambda e: (not e.deleted, e.path))  # zpaq lists deletions first
        self._write_i_blocks([i_record(e) for e in entries])
        self.fp.flush()
        os.fsync(self.fp.fileno())
        dsize = sum(size for _, _, size in self.written)
        _patch_c(self.fp, self.start, self.cblock, dsize, self.date, self.first)
        return self.fp.tell() - self.start

    def _write_i_blocks(self, records: list[bytes]) -> None:
        number, chunk, size = 1, [], 0
        for rec in records:
            chunk.append(rec)
            size += len(rec)
            if size > I_BLOCK_BYTES:
                self.fp.write(journal_block(self.date, "i", number, b"".join(chunk), methods.INDEX))
                number, chunk, size = number + 1, [], 0
        if chunk:
            self.fp.write(journal_block(self.date, "i", number, b"".join(chunk), methods.INDEX))


def _patch_c(fp: BinaryIO, start: int, old: bytes, dsize: int, date: int, first: int) -> None:
    """Replace the c block's -1 by the real d size (same length, new SHA-1), then fsync."""
    new = c_block(date, first, dsize)
    assert len(new) == len(old)
    diff = next(i for i in range(len(new)) if new[i] != old[i])
    fp.seek(start + diff)
    fp.write(new[diff:])
    fp.flush()
    os.fsync(fp.fileno())
    fp.seek(0, 2)


def _tail(fp: BinaryIO, journal: Journal, decode: Decode) -> str | None:
    """ "damaged" unless the bytes after ``journal.end`` are an interrupted update (None): a c block whose
    size is still -1, or the start of one cut short."""
    size = fp.seek(0, 2)
    try:
        block = read_block(fp, journal.end)
    except BlockError:
        return None if size - journal.end < len(c_block(0, 0, -1)) else "damaged"
    kind = _journal_kind(block)
    if kind is not None and kind[0] == "c":
        with contextlib.suppress(BlockError, struct.error):
            if struct.unpack("<q", decode(block, describe(block), 8)[:8])[0] == -1:
                return None
    return "damaged"


@contextlib.contextmanager
def _appender(archive: Archive) -> Iterator[tuple[BinaryIO, int]]:
    """The archive opened for appending after its last complete transaction (an unfinished tail left
    by a killed add is cut off first); on failure the archive is cut back to where it was."""
    path = archive.path
    journal = archive.journal() if path.exists() else Journal()
    if journal.incomplete and archive.tail_state(journal) == "damaged":
        raise CorruptDataError(
            f"{path}: damaged data at offset {journal.end}: not appending, which would cut off what follows"
        )
    mode = "r+b" if path.exists() else "w+b"
    with open(path, mode) as raw:
        if archive.key is not None:
            from everybit.imli import crypto

            fp = crypto.open_encrypted_writer(raw, archive.key, append=mode == "r+b")
        else:
            fp = raw
        start = journal.end if mode == "r+b" else fp.seek(0, 2)
        fp.seek(start)
        fp.truncate()
        try:
            yield fp, start
        except BaseException:
            fp.truncate(start)
            raise
