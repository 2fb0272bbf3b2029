"""The gzip-like command of the block codecs (``ulz``, ``bpez``): one driver, configured by a frame spec.

``TOOL [-d | -t | -l] [-c] [-k] [-f] [-r] [-S SUF] [-1..-9] [-T N] [-B SIZE] [-q] [-v] [FILE ...]``.
Without FILE (or with ``-``) it filters stdin to stdout. ``FILE`` becomes ``FILE.SUF`` (and back with
``-d``), written atomically with the input's mode and times; the input is deleted only once the output is
complete and verified, unless ``-k`` or ``-c``. ``-l`` lists sizes as ``gzip -l`` does, from the block
headers. A file that fails is reported on one line and the others still run; the exit status is then 1,
as with gzip. docs/cli.md is the charter; a tool's ``configure`` and ``run`` are thin calls of these.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from everybit.common.atomic import atomic_write
from everybit.common.cli import describe
from everybit.common.cliargs import add_threads, size_type
from everybit.common.codecfile import DecodedReader, decode_stream
from everybit.common.errors import CorruptDataError, EverybitError, InputError, OutputError, UsageError
from everybit.common.frame import FrameSpec

__all__ = [
    "Stdout",
    "block_size_type",
    "configure",
    "decode",
    "format_note",
    "note",
    "percent",
    "report",
    "run",
]


def configure(parser: argparse.ArgumentParser, spec: FrameSpec, notes: dict[str, str] | None = None) -> None:
    """The codec options of docs/cli.md; ``notes``: what ``-v`` adds for a format (a legacy file)."""
    parser.usage = (
        "%(prog)s [-d | -t | -l] [-c] [-k] [-f] [-r] [-S SUF] [-1..-9] [-T N] [-B SIZE] [-q] [-v] [FILE ...]"
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="files to process; none or '-': stdin")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("-d", "--decompress", action="store_true", help="decompress")
    action.add_argument("-t", "--test", action="store_true", help="test the integrity of compressed files")
    action.add_argument("-l", "--list", action="store_true", help="list compressed and uncompressed sizes")
    parser.add_argument("-c", "--stdout", action="store_true", help="write to stdout, keep the input files")
    parser.add_argument("-k", "--keep", action="store_true", help="keep the input files")
    parser.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="overwrite outputs; read or write compressed data on a terminal",
    )
    parser.add_argument("-r", "--recursive", action="store_true", help="process the files in folders too")
    parser.add_argument(
        "-S",
        "--suffix",
        default=spec.suffix,
        metavar="SUF",
        help=f"suffix of compressed files (default {spec.suffix})",
    )
    lo, hi = spec.min_level, spec.max_level
    for level in range(lo, hi + 1):
        default = " (default)" if level == spec.default_level else ""
        helps = {lo: f"fastest{default}", hi: f"smallest{default}"}
        parser.add_argument(
            f"-{level}",
            dest="level",
            action="store_const",
            const=level,
            help=helps.get(level, argparse.SUPPRESS),
        )
    parser.add_argument("--fast", dest="level", action="store_const", const=lo, help=f"= -{lo}")
    parser.add_argument("--best", dest="level", action="store_const", const=hi, help=f"= -{hi}")
    add_threads(parser, "coding blocks")
    parser.add_argument(
        "-B",
        "--block-size",
        type=block_size_type(spec),
        default=spec.default_block_size,
        metavar="SIZE",
        help=f"block size when compressing, a power of two in {_span(spec)} "
        f"(default {spec.default_block_size >> 20}M)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no -v notes")
    parser.add_argument("-v", "--verbose", action="store_true", help="report each file")
    parser.set_defaults(
        func=lambda args: run(args, spec, notes or {}), level=spec.default_level, prog=parser.prog
    )


def block_size_type(spec: FrameSpec) -> Callable[[str], int]:
    """The argparse ``type=`` of ``-B``: a power of two in the format's range, binary suffixes."""
    return size_type(spec.min_block_size, spec.max_block_size, power_of_two=True)


def _span(spec: FrameSpec) -> str:
    return f"{spec.min_block_size >> 10}k..{spec.max_block_size >> 20}M"


class Stdout:
    """The process's stdout for binary data, whose write errors name it as a file's would (a full disk).

    After a failed write it is dead: later writes fail the same way, and fd 1 goes to /dev/null so that
    what is still buffered can't make Python's own flush at exit print a second error."""

    name = "<stdout>"

    def __init__(self) -> None:
        self._fp = sys.stdout.buffer
        self.failure: OSError | None = None

    def write(self, data: Any) -> int:
        return self._guard(self._fp.write, data)

    def flush(self) -> None:
        self._guard(self._fp.flush)

    def _guard(self, call: Any, *args: Any) -> Any:
        if self.failure is None:
            try:
                return call(*args)
            except BrokenPipeError:
                raise
            except OSError as exc:
                self.failure = exc
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        exc = self.failure
        raise OutputError(f"{self.name}: {exc.strerror or os.strerror(exc.errno or errno.EIO)}") from exc


def note(args: argparse.Namespace, message: str) -> None:
    if args.verbose and not args.quiet:
        print(message, file=sys.stderr)


def percent(n_in: int, n_out: int) -> str:
    return f"{100 * (1 - n_out / n_in):.1f}% saved" if n_in else "empty"


def report(prog: str, src: str, exc: BaseException) -> None:
    """One line for a file that failed; data errors don't name the file themselves, so it is added."""
    message = describe(exc)[0]
    if isinstance(exc, CorruptDataError):
        message = f"{_name(src)}: {message}"
    print(f"{prog}: error: {message}", file=sys.stderr)


def decode(
    spec: FrameSpec, fin: IO[bytes], fout: IO[bytes] | None, threads: int, src: str
) -> tuple[DecodedReader, int]:
    """Copy the decoded contents of ``fin`` to ``fout`` (None: only check), with a progress bar: the reader
    (``consumed``: compressed bytes read, ``decoder.format``) and the number of decoded bytes."""
    reader = DecodedReader(fin, spec.decompressor(threads=threads, concatenated=True))
    return reader, decode_stream(reader, fout, f"un{spec.name} {_name(src)}")


def _name(src: str) -> str:
    return "stdin" if src == "-" else src


def format_note(notes: dict[str, str], reader: DecodedReader) -> str:
    text = notes.get(getattr(reader.decoder, "format", "") or "")
    return f" ({text})" if text else ""


def _finish_output(dst: str, st: os.stat_result) -> None:
    # Like gzip: the output carries the input's times (its mode was set when it was written).
    try:
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError as exc:
        raise OutputError(f"{dst}: cannot set its times ({exc.strerror})") from exc


def _remove_input(src: str, st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):  # never delete a fifo or device someone pointed us at
        os.unlink(src)


def _input(src: str) -> str:
    if os.path.isdir(src):
        raise InputError(f"{src}: is a directory, skipped")
    return src


class _Driver:
    """One run of the command over its files, in the mode its options chose."""

    def __init__(self, args: argparse.Namespace, spec: FrameSpec, notes: dict[str, str]) -> None:
        self.args, self.spec, self.notes = args, spec, notes
        self.suffix = args.suffix
        self.opts = {"level": args.level, "threads": args.threads, "block_size": args.block_size}
        self.listed: list[tuple[int, int]] = []
        self.stdout = Stdout()

    @contextlib.contextmanager
    def _source(self, src: str) -> Iterator[IO[bytes]]:
        """The input ``src`` names: stdin for "-" (left open), else the file (closed afterwards)."""
        if src == "-":
            yield sys.stdin.buffer
            return
        with open(_input(src), "rb") as fp:
            yield fp

    def compress_one(self, src: str) -> None:
        args, spec = self.args, self.spec
        if src == "-" or args.stdout:
            with self._source(src) as source:
                n_in, n_out = spec.compress_file(source, self.stdout, **self.opts)
            note(args, f"{_name(src)}: {percent(n_in, n_out)}")
            return
        st = os.stat(_input(src))
        if src.endswith(self.suffix):
            raise InputError(f"{src}: already has the {self.suffix} suffix, left unchanged")
        dst = src + self.suffix
        with atomic_write(dst, overwrite=args.force, mode=stat.S_IMODE(st.st_mode)) as out:
            n_in, n_out = spec.compress_file(src, out, **self.opts)
        _finish_output(dst, st)
        if not args.keep:
            self._verify(dst, n_in)
            _remove_input(src, st)
        note(args, f"{src}: {percent(n_in, n_out)} -- {'created' if args.keep else 'replaced with'} {dst}")

    def _verify(self, dst: str, n_in: int) -> None:
        """Read back what was written before the only other copy of the data goes."""
        try:
            n_check = self.spec.decompress_file(dst, None, threads=self.args.threads)[1]
        except CorruptDataError as exc:
            n_check, problem = -1, str(exc)
        else:
            problem = f"decodes to {n_check:,} bytes, not {n_in:,}"
        if n_check != n_in:
            os.unlink(dst)
            raise OutputError(f"{dst}: the written file failed its check ({problem}); input kept")

    def decompress_one(self, src: str) -> None:
        args = self.args
        if src == "-" or args.test or args.stdout:
            with self._source(src) as source:
                reader, _ = decode(self.spec, source, None if args.test else self.stdout, args.threads, src)
            note(args, f"{_name(src)}: OK{format_note(self.notes, reader)}")
            return
        st = os.stat(_input(src))
        dst = src[: -len(self.suffix)]
        if not src.endswith(self.suffix) or not os.path.basename(dst):
            raise InputError(
                f"{src}: unknown suffix, expected {self.suffix} (use -c to decompress it to stdout)"
            )
        with (
            atomic_write(dst, overwrite=args.force, mode=stat.S_IMODE(st.st_mode)) as out,
            open(src, "rb") as fin,
        ):
            reader, n_out = decode(self.spec, fin, out, args.threads, src)
        _finish_output(dst, st)
        if not args.keep:
            # Every block and its checksum were checked while decoding; the file on disk must be complete.
            if os.stat(dst).st_size != n_out:
                raise OutputError(f"{dst}: written size differs from the {n_out:,} bytes decoded; input kept")
            _remove_input(src, st)
        done = "created" if args.keep else "replaced with"
        note(
            args,
            f"{src}: {percent(n_out, reader.consumed)} -- {done} {dst}{format_note(self.notes, reader)}",
        )

    def list_one(self, src: str) -> None:
        with self._source(src) as source:
            packed, size = self.spec.measure(source)
        if not self.listed:
            print(f"{'compressed':>19} {'uncompressed':>19}  ratio uncompressed_name")
        self.listed.append((packed, size))
        name = "stdin" if src == "-" else src[: -len(self.suffix)] if src.endswith(self.suffix) else src
        print(_list_row(packed, size, name))

    def list_totals(self) -> None:
        if len(self.listed) > 1:
            packed, size = (sum(col) for col in zip(*self.listed, strict=True))
            print(_list_row(packed, size, "(totals)"))

    def operands(self, files: list[str]) -> Iterator[str]:
        """The files to process: operands as given, folders walked (in name order) with ``-r``."""
        compressing = not (self.args.decompress or self.args.test or self.args.list)
        for src in files:
            if not (self.args.recursive and src != "-" and os.path.isdir(src)):
                yield src
                continue
            for folder, subdirs, names in os.walk(src):
                subdirs.sort()
                for name in sorted(names):
                    path = os.path.join(folder, name)
                    if (
                        os.path.isfile(path)
                        and not os.path.islink(path)
                        and path.endswith(self.suffix) != compressing
                    ):
                        yield path


def _list_row(packed: int, size: int, name: str) -> str:
    ratio = 100 * (1 - packed / size) if size else 0.0
    return f"{packed:>19} {size:>19} {ratio:5.1f}% {name}"


def run(args: argparse.Namespace, spec: FrameSpec, notes: dict[str, str]) -> int:
    """Process every operand; a failure is reported and the others go on (exit 1 at the end), as gzip."""
    prog = args.prog.split()[0]  # 'ulz', or 'everybit' when run as 'everybit ulz'
    if not args.suffix or os.sep in args.suffix:
        raise UsageError(f"invalid suffix {args.suffix!r} (see '{args.prog} --help')")
    files = args.files or ["-"]
    compressing = not (args.decompress or args.test or args.list)
    to_stdout = args.stdout or "-" in files
    if compressing and to_stdout and sys.stdout.isatty() and not args.force:
        raise OutputError("compressed data not written to a terminal (use -f to force)")
    if not compressing and "-" in files and sys.stdin.isatty() and not args.force:
        raise InputError("compressed data not read from a terminal (use -f to force)")
    driver = _Driver(args, spec, notes)
    work = driver.list_one if args.list else driver.compress_one if compressing else driver.decompress_one
    failed = 0
    for src in driver.operands(files):
        try:
            work(src)
        except BrokenPipeError:
            raise
        except (EverybitError, OSError) as exc:
            report(prog, src, exc)
            failed += 1
    if args.list:
        driver.list_totals()
    if to_stdout and not args.list and driver.stdout.failure is None:
        try:
            driver.stdout.flush()
        except OutputError as exc:
            report(prog, "-", exc)
            failed += 1
    return 1 if failed else 0
