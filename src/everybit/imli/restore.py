"""File contents out of an archive's d blocks, each block decoded once in a sandboxed worker.

Three readers, one per need: ``contents`` yields each file's bytes to the caller (purge, prune),
``verify`` only checks every fragment's SHA-1 (test), and ``extract_files`` has each worker write the
files of the block it decoded, as zpaq does, so file data never crosses a pipe and writing runs on
every worker. A file whose fragments lie in several blocks goes to a temporary file that each block's
worker fills at the file's offsets; it is renamed into place once its last block is done.

Every file is written to ``.<name>.everybit-tmp-<run>-<n>`` beside its target and renamed when
complete: an interrupted or failed extraction leaves no partial file (``close`` of the plan removes
the temporary files of every file not finished, after the workers are killed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from everybit.common.atomic import TMP_MARK
from everybit.common.errors import CorruptDataError, InputError, OutputError
from everybit.imli.blocks import TAG, BlockError, decode_block, read_block
from everybit.imli.extract import check_target
from everybit.imli.journal import Entry, Journal, d_block_fragments, timestamp_of
from everybit.imli.sandbox import Budget, WorkerPool, blame

HEADER_READ = len(TAG) + 7 + 65535  # a block header is at most this long (its size is 16 bits)
Opener = Callable[[], BinaryIO]  # opens the archive for reading (decrypting), in the worker that uses it


@dataclass
class BlockJob:
    """One d block: where it is and what the index says it holds."""

    offset: int
    size: int  # bytes in the archive
    expected: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # fragment index -> SHA-1, size
    declared: int = 0  # decoded size the h block implies

    def what(self) -> str:
        return f"d block at offset {self.offset}"


def block_jobs(journal: Journal, entries: list[Entry]) -> dict[int, BlockJob]:
    """The d blocks that ``entries`` need, in first-use order."""
    jobs: dict[int, BlockJob] = {}
    wanted = {f for e in entries for f in e.fragments}
    for e in entries:
        for fid in e.fragments:
            frag = journal.fragments.get(fid)
            if frag is not None and frag.block not in jobs:
                jobs[frag.block] = BlockJob(frag.block, frag.block_size)
    for fid, frag in journal.fragments.items():
        job = jobs.get(frag.block)
        if job is not None:
            job.declared += frag.size + 4
            if fid in wanted:
                job.expected[frag.index] = (frag.sha1, frag.size)
    for job in jobs.values():
        job.declared += 8
    return jobs


def _worker_reader(opener: Opener) -> Callable[[], BinaryIO]:
    """The archive opened once per worker process (a forked worker must not share the parent's file
    position, nor its decrypting reader's state)."""
    state: dict[str, Any] = {}

    def get() -> BinaryIO:
        if state.get("pid") != os.getpid():
            state["fp"], state["pid"] = opener(), os.getpid()
        return state["fp"]

    return get


def decode_pieces(fp: BinaryIO, job: BlockJob) -> list[memoryview | None]:
    """The fragments of ``job``'s block (in a worker); those that fail their SHA-1 or size, or are
    missing: None."""
    block = read_block(fp, job.offset, job.size)
    try:
        data = decode_block(block.raw, job.offset)
    except BlockError as exc:
        raise BlockError(_error(job, str(exc))) from None
    if len(data) > job.declared:
        raise BlockError(f"{job.what()}: decodes to {len(data):,} bytes, its index says {job.declared:,}")
    pieces: list[memoryview | None] = list(d_block_fragments(memoryview(data)))  # views: no copies
    pieces += [None] * (max(job.expected, default=-1) + 1 - len(pieces))
    for index, (sha1, size) in job.expected.items():
        piece = pieces[index]
        if piece is not None and (len(piece) != size or hashlib.sha1(piece).digest() != sha1):
            pieces[index] = None
    return pieces


class BlockReader:
    """The sandboxed pool for one archive's d blocks: budgets checked in the parent from each block's
    header, decoding (and whatever ``work`` does with the pieces) in the workers."""

    def __init__(
        self,
        fp: BinaryIO,
        opener: Opener,
        budget: Budget,
        threads: int,
        work: Callable[[BlockJob, list[bytes | None]], Any],
    ) -> None:
        self.fp, self.budget = fp, budget
        reader = _worker_reader(opener)
        self.pool = WorkerPool(lambda job: work(job, decode_pieces(reader(), job)), threads, budget)

    def submit(self, job: BlockJob) -> str | None:
        """Queue ``job``; an error line instead when its header cannot be read or is over the budget."""
        try:
            self.fp.seek(job.offset)
            head = self.fp.read(min(job.size, HEADER_READ))
            need, components = self.budget.check(head, job.what(), job.declared)
        except (BlockError, CorruptDataError) as exc:
            return _error(job, str(exc))
        seconds = self.budget.seconds(job.declared, components)
        self.pool.submit(job.offset, job, seconds=seconds, memory=need, what=job.what())
        return None

    def close(self) -> None:
        self.pool.close()


def _error(job: BlockJob, message: str) -> str:
    return blame(job.what(), job.offset, message)


# ---------------------------------------------------------------------------------------------- contents


def contents(
    fp: BinaryIO, opener: Opener, journal: Journal, entries: list[Entry], threads: int, budget: Budget
) -> Iterator[tuple[Entry, bytes | str]]:
    """Each entry with its content, or with a one-line reason when it cannot be had, in ``entries``'
    order. At most 2 x threads decoded blocks are held at once."""
    frags = journal.fragments
    jobs = block_jobs(journal, entries)
    needs = [{frags[f].block for f in e.fragments if f in frags} for e in entries]
    users: dict[int, int] = {}
    for blocks in needs:
        for b in blocks:
            users[b] = users.get(b, 0) + 1
    decoded: dict[int, list[bytes | None] | str] = {}
    reader = BlockReader(fp, opener, budget, threads, lambda job, pieces: [_own(p) for p in pieces])
    order = iter(jobs.values())
    try:
        pending = 0
        while pending < len(entries):
            while len(reader.pool) + len(decoded) < 2 * reader.pool.size:
                job = next(order, None)
                if job is None:
                    break
                refused = reader.submit(job)
                if refused is not None:
                    decoded[job.offset] = refused
            while not needs[pending] <= decoded.keys():
                key, ok, value = reader.pool.next()
                decoded[key] = value if ok else _error(jobs[key], value)
            e, blocks = entries[pending], needs[pending]
            pending += 1
            yield e, _assemble(e, frags, blocks, decoded)
            for b in blocks:
                users[b] -= 1
                if not users[b]:
                    del decoded[b]
    finally:
        reader.close()


def _own(piece: memoryview | None) -> bytes | None:
    return None if piece is None else bytes(piece)


def _assemble(e: Entry, frags: dict, blocks: set[int], decoded: dict) -> bytes | str:
    missing = [f for f in e.fragments if f not in frags]
    errors = [decoded[b] for b in sorted(blocks) if isinstance(decoded[b], str)]
    if missing or errors:
        return errors[0] if errors else f"fragment {missing[0]} is missing"
    parts = [decoded[frags[f].block][frags[f].index] for f in e.fragments]
    return "SHA-1 mismatch" if any(p is None for p in parts) else b"".join(parts)


# ---------------------------------------------------------------------------------------------- verify


def verify(
    fp: BinaryIO, opener: Opener, journal: Journal, entries: list[Entry], threads: int, budget: Budget
) -> Iterator[tuple[Entry, str | None]]:
    """Each entry with None when every fragment decodes and matches its SHA-1, else the reason."""
    frags = journal.fragments
    jobs = block_jobs(journal, entries)
    verdicts: dict[int, dict[int, bool] | str] = {}
    reader = BlockReader(
        fp, opener, budget, threads, lambda job, pieces: {i: pieces[i] is not None for i in job.expected}
    )
    try:
        for job in jobs.values():
            refused = reader.submit(job)
            if refused is not None:
                verdicts[job.offset] = refused
        for key, ok, value in reader.pool.results():
            verdicts[key] = value if ok else _error(jobs[key], value)
    finally:
        reader.close()
    for e in entries:
        yield e, _verdict(e, frags, verdicts)


def _verdict(e: Entry, frags: dict, verdicts: dict) -> str | None:
    for fid in e.fragments:
        frag = frags.get(fid)
        if frag is None:
            return f"fragment {fid} is missing"
        v = verdicts[frag.block]
        if isinstance(v, str):
            return v
        if not v.get(frag.index, False):
            return "SHA-1 mismatch"
    return None


# ---------------------------------------------------------------------------------------------- extract


@dataclass
class OutFile:
    entry: Entry
    target: str  # where it goes (from the name alone; the worker checks the folders on the way)
    temp: str
    blocks: set[int]  # d blocks not yet written into it
    writes: list[tuple[int, int, int]] = field(default_factory=list)  # (block, index, file offset)
    error: str | None = None
    done: bool = False

    @property
    def multi(self) -> bool:
        """Lies in several blocks (fixed at planning; ``blocks`` shrinks as they are written)."""
        return len({b for b, _, _ in self.writes}) > 1


def _stamp(fd: int, entry: Entry) -> None:
    """Permission bits (never set-id bits from an archive) and date, through the open descriptor."""
    if entry.mode is not None:
        os.fchmod(fd, entry.mode & 0o777)
    when = timestamp_of(entry.date)
    os.utime(fd, (when, when))


def _place(f: OutFile, force: bool) -> None:
    """The finished temporary file becomes the target (never clobbering one without ``force``)."""
    if force:
        os.replace(f.temp, f.target)
    else:
        try:
            os.link(f.temp, f.target)
        except FileExistsError:
            raise FileExistsError(f"{f.target}: already exists (use --force to overwrite)") from None
        os.unlink(f.temp)


def _finish(f: OutFile, force: bool) -> None:
    """A file filled by several workers: its metadata, then into place."""
    fd = os.open(f.temp, os.O_WRONLY)
    try:
        _stamp(fd, f.entry)
    finally:
        os.close(fd)
    _place(f, force)


def prepare_target(root: str, f: OutFile, force: bool, checked: set[str]) -> None:
    """The folders on the way exist and are no symbolic links; the target is not a folder and, without
    ``force``, does not exist. Raises InputError or OutputError."""
    check_target(root, f.entry.path, f.target, checked)
    folder = os.path.dirname(f.target)
    if folder not in checked:
        os.makedirs(folder, exist_ok=True)
        check_target(root, f.entry.path, f.target, checked)  # made by us, or by a racing writer?
        checked.add(folder)
    if os.path.isdir(f.target):
        raise OutputError(f"{f.target}: is a directory")
    if not force and os.path.lexists(f.target):
        raise OutputError(f"{f.target}: already exists (use --force to overwrite)")


def _reason(exc: Exception, f: OutFile) -> str:
    if isinstance(exc, (InputError, OutputError, FileExistsError)):
        return str(exc)
    return f"{f.target}: {getattr(exc, 'strerror', None) or exc}"


def _write_block(
    root: str,
    files: list[OutFile],
    plan: dict[int, list[int]],
    force: bool,
    checked: set[str],
    job: BlockJob,
    pieces: list,
) -> list[tuple[int, str | None]]:
    """In a worker: write the pieces of one decoded block into every file that uses them; a file that
    lies in this block alone is checked, written and renamed here. Returns (file number, error).
    ``checked`` (folders found safe) is each worker's own copy, made when it was forked."""
    out = []
    for n in plan[job.offset]:
        f = files[n]
        mine = [(i, at) for b, i, at in f.writes if b == job.offset]
        if any(pieces[i] is None for i, _ in mine):
            out.append((n, "SHA-1 mismatch"))
            continue
        try:
            if not f.multi:
                prepare_target(root, f, force, checked)
            flags = os.O_WRONLY | (0 if f.multi else os.O_CREAT | os.O_EXCL)
            fd = os.open(f.temp, flags, 0o600)
            try:
                for i, at in mine:
                    os.pwrite(fd, pieces[i], at)
                if not f.multi:
                    _stamp(fd, f.entry)
            finally:
                os.close(fd)
            if not f.multi:
                _place(f, force)
            out.append((n, None))
        except (OSError, ValueError, InputError, OutputError) as exc:  # ValueError: a date that is none
            if not f.multi:
                with contextlib.suppress(OSError):
                    os.unlink(f.temp)
            out.append((n, _reason(exc, f)))
    return out


class Extraction:
    """Writes ``files`` into ``root`` from their d blocks; see the module docstring."""

    def __init__(self, journal: Journal, root: str, files: list[OutFile], force: bool) -> None:
        self.journal, self.root, self.files, self.force = journal, root, files, force
        self.jobs = block_jobs(journal, [f.entry for f in files])
        self.plan: dict[int, list[int]] = {b: [] for b in self.jobs}
        for n, f in enumerate(files):
            for b in f.blocks:
                self.plan[b].append(n)
        self.reader: BlockReader | None = None

    def start(self, fp: BinaryIO, opener: Opener, threads: int, budget: Budget) -> None:
        """Start decoding every block (the caller may do other work meanwhile, then ``wait``)."""
        checked: set[str] = set()
        for f in self.files:
            if f.multi:  # filled by several workers: checked and created here, once
                try:
                    prepare_target(self.root, f, self.force, checked)
                    os.close(os.open(f.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except (OSError, InputError, OutputError) as exc:
                    f.error = _reason(exc, f)

        def work(job: BlockJob, pieces: list[bytes | None]) -> list[tuple[int, str | None]]:
            return _write_block(self.root, self.files, self.plan, self.force, checked, job, pieces)

        self.reader = BlockReader(fp, opener, budget, threads, work)
        for job in self.jobs.values():
            refused = self.reader.submit(job)
            if refused is not None:
                self._block_failed(job.offset, refused)
        self.reader.pool.pump()

    def wait(self, advance: Callable[[int], None]) -> None:
        """Collect every block's outcome; per-file errors land in ``OutFile.error``."""
        assert self.reader is not None
        for key, ok, value in self.reader.pool.results():
            if ok:
                self._block_done(key, value)
            else:
                self._block_failed(key, _error(self.jobs[key], value))
            advance(self.jobs[key].declared)

    def close(self) -> None:
        """Stop the workers, then remove the temporary file of every file not finished."""
        if self.reader is not None:
            self.reader.close()
        for f in self.files:
            if not f.done:
                with contextlib.suppress(OSError):
                    os.unlink(f.temp)

    def _block_done(self, offset: int, results: list[tuple[int, str | None]]) -> None:
        for n, error in results:
            f = self.files[n]
            f.blocks.discard(offset)
            if error is not None and f.error is None:
                f.error = error
            if f.blocks:
                continue
            if f.multi and f.error is None:
                try:
                    _finish(f, self.force)
                except (OSError, ValueError) as exc:
                    f.error = _reason(exc, f)
            f.done = f.error is None

    def _block_failed(self, offset: int, error: str) -> None:
        for n in self.plan[offset]:
            f = self.files[n]
            f.blocks.discard(offset)
            if f.error is None:
                f.error = error


def temp_name(target: str, run: str, n: int) -> str:
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}{TMP_MARK}{run}-{n}")
