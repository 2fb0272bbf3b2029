"""``ulz [-d|-t] [-c] [-k] [-f] [-1..-9] [-T N] [-B SIZE] [FILE...]``: gzip-like command for .ulz files.

Without FILE (or with ``-``) it filters stdin to stdout. ``FILE`` becomes ``FILE.ulz`` (and back with
``-d``), written atomically with the input's mode and times; the input is deleted only once the output
is complete and verified, unless ``-k`` or ``-c``. A file that fails is reported on one line and the
others still run; the exit status is then 1, as with gzip.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from typing import IO, NoReturn

from everybit.common.cli import describe, run_tool
from everybit.common import CorruptDataError, EverybitError, InputError, OutputError, atomic_write
from everybit.ulz.frame import (
    DEFAULT_BLOCK_SIZE,
    MAX_BLOCK_SIZE,
    MIN_BLOCK_SIZE,
    SUFFIX,
    compress_file,
    decompress_file,
)

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _block_size(text: str) -> int:
    """'1M', '64k', '256KiB', '65536' -> bytes; a power of two from 64 KiB to 64 MiB."""
    found = re.fullmatch(r"(\d+)\s*([kmg]?)(?:i?b)?", text.strip(), re.IGNORECASE)
    size = int(found[1]) * _UNITS[found[2].lower()] if found else 0
    if not MIN_BLOCK_SIZE <= size <= MAX_BLOCK_SIZE or size & (size - 1):
        raise argparse.ArgumentTypeError(f"block size must be a power of two from 64K to 64M, not {text!r}")
    return size


def _threads(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"threads must be a number >= 0, not {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "%(prog)s [-d | -t] [-c] [-k] [-f] [-1..-9] [-T N] [-B SIZE] [-q] [-v] [FILE ...]"
    parser.add_argument("files", nargs="*", metavar="FILE", help="files to process; none or '-': stdin")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("-d", "--decompress", action="store_true", help="decompress")
    action.add_argument("-t", "--test", action="store_true", help="test the integrity of compressed files")
    parser.add_argument("-c", "--stdout", action="store_true", help="write to stdout, keep the input files")
    parser.add_argument("-k", "--keep", action="store_true", help="keep the input files")
    parser.add_argument(
        "-f", "--force", action="store_true", help="overwrite outputs; write compressed data to a terminal"
    )
    for level in range(1, 10):
        parser.add_argument(
            f"-{level}",
            dest="level",
            action="store_const",
            const=level,
            help={1: "fastest (default)", 9: "smallest"}.get(level, argparse.SUPPRESS),
        )
    parser.add_argument(
        "-T", "--threads", type=_threads, default=0, metavar="N", help="threads (default 0: all cores)"
    )
    parser.add_argument(
        "-B",
        "--block-size",
        type=_block_size,
        default=DEFAULT_BLOCK_SIZE,
        metavar="SIZE",
        help="block size when compressing, 64K..64M (default 1M)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no -v notes")
    parser.add_argument("-v", "--verbose", action="store_true", help="report each file")
    parser.set_defaults(func=run, level=1, prog=parser.prog)


def main() -> NoReturn:
    """Entry point of the ``ulz`` console script."""
    run_tool("ulz")


def _stdout() -> IO[bytes]:
    return sys.stdout.buffer


def _note(args: argparse.Namespace, message: str) -> None:
    if args.verbose and not args.quiet:
        print(message, file=sys.stderr)


def _percent(n_in: int, n_out: int) -> str:
    return f"{100 * (1 - n_out / n_in):.1f}% saved" if n_in else "empty"


def _finish_output(dst: str, st: os.stat_result) -> None:
    # Like gzip: the output carries the input's times (its mode was set when it was written).
    try:
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError as exc:
        raise OutputError(f"{dst}: cannot set its times ({exc.strerror})") from exc


def _remove_input(src: str, st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):  # never delete a fifo or device someone pointed us at
        os.unlink(src)


def _compress_one(src: str, args: argparse.Namespace) -> None:
    opts = {"level": args.level, "threads": args.threads, "block_size": args.block_size}
    if src == "-" or args.stdout:
        source = sys.stdin.buffer if src == "-" else _input(src)
        n_in, n_out = compress_file(source, _stdout(), **opts)
        _note(args, f"{_name(src)}: {_percent(n_in, n_out)}")
        return
    st = os.stat(_input(src))
    if src.endswith(SUFFIX):
        raise InputError(f"{src}: already has the {SUFFIX} suffix, left unchanged")
    dst = src + SUFFIX
    with atomic_write(dst, overwrite=args.force, mode=stat.S_IMODE(st.st_mode)) as out:
        n_in, n_out = compress_file(src, out, **opts)
    _finish_output(dst, st)
    if not args.keep:
        # Read back what was written before the only other copy of the data goes.
        try:
            n_check = decompress_file(dst, None, threads=args.threads)[1]
        except CorruptDataError as exc:
            n_check = -1
            problem = str(exc)
        else:
            problem = f"decodes to {n_check:,} bytes, not {n_in:,}"
        if n_check != n_in:
            os.unlink(dst)
            raise OutputError(f"{dst}: the written file failed its check ({problem}); input kept")
        _remove_input(src, st)
    _note(args, f"{src}: {_percent(n_in, n_out)} -- {'created' if args.keep else 'replaced with'} {dst}")


def _decompress_one(src: str, args: argparse.Namespace) -> None:
    if src == "-" or args.test or args.stdout:
        source = sys.stdin.buffer if src == "-" else _input(src)
        decompress_file(source, None if args.test else _stdout(), threads=args.threads)
        _note(args, f"{_name(src)}: OK")
        return
    st = os.stat(_input(src))
    dst = src[: -len(SUFFIX)]
    if not src.endswith(SUFFIX) or not os.path.basename(dst):
        raise InputError(f"{src}: unknown suffix, expected {SUFFIX} (use -c to decompress it to stdout)")
    with atomic_write(dst, overwrite=args.force, mode=stat.S_IMODE(st.st_mode)) as out:
        n_in, n_out = decompress_file(src, out, threads=args.threads)
    _finish_output(dst, st)
    if not args.keep:
        # Every block and the content were checked while decoding; the file on disk must be complete.
        if os.stat(dst).st_size != n_out:
            raise OutputError(f"{dst}: written size differs from the {n_out:,} bytes decoded; input kept")
        _remove_input(src, st)
    _note(args, f"{src}: {_percent(n_out, n_in)} -- {'created' if args.keep else 'replaced with'} {dst}")


def _name(src: str) -> str:
    return "stdin" if src == "-" else src


def _input(src: str) -> str:
    if os.path.isdir(src):
        raise InputError(f"{src}: is a directory, skipped")
    return src


def run(args: argparse.Namespace) -> int:
    prog = args.prog.split()[0]  # 'ulz', or 'everybit' when run as 'everybit ulz'
    files = args.files or ["-"]
    compressing = not (args.decompress or args.test)
    to_stdout = args.stdout or "-" in files
    if compressing and to_stdout and sys.stdout.isatty() and not args.force:
        raise OutputError("compressed data not written to a terminal (use -f to force)")
    if not compressing and "-" in files and sys.stdin.isatty() and not args.force:
        raise InputError("compressed data not read from a terminal (use -f to force)")
    failed = 0
    for src in files:
        try:
            (_compress_one if compressing else _decompress_one)(src, args)
        except BrokenPipeError:
            raise
        except (EverybitError, OSError) as exc:
            message = describe(exc)[0]
            if isinstance(exc, CorruptDataError):
                message = f"{_name(src)}: {message}"
            print(f"{prog}: error: {message}", file=sys.stderr)
            failed += 1
    if to_stdout:
        _stdout().flush()
    return 1 if failed else 0
