"""``bpez``: the original's ``bpez c IN OUT`` / ``bpez d IN OUT``, and a gzip-like command for .bpez files.

Gzip-like: ``bpez [-d | -t] [-c] [-k] [-f] [-1..-9] [-b SIZE] [-T N] [-q] [-v] [FILE...]``. Without FILE (or
with ``-``) it filters stdin to stdout. ``FILE`` becomes ``FILE.bpez`` (and back with ``-d``), written
atomically with the input's mode and times; the input is deleted only once the output is complete and
verified, unless ``-k`` or ``-c``. A file that fails is reported on one line and the others still run;
the exit status is then 1, as with gzip.

Original form: when the first FILE operand is exactly ``c`` or ``d`` and exactly two more follow,
``bpez c IN OUT`` compresses IN into OUT and ``bpez d IN OUT`` decompresses it, as bpez.py did: OUT is
replaced (atomically) if it exists, IN is always kept, ``-`` means stdin/stdout. To compress files
really named ``c`` or ``d``, write ``./c``.

Decompression reads the files of the original bpez.py too (they have no magic; ``-v`` says when one
was recognized).
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from typing import IO, NoReturn

from everybit.bpez.format import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_LEVEL,
    MAX_BLOCK_SIZE,
    MIN_BLOCK_SIZE,
    SUFFIX,
    compress_file,
    decode_stream,
    decompress_file,
)
from everybit.common.cli import describe, run_tool
from everybit.common import CorruptDataError, EverybitError, InputError, OutputError, UsageError, atomic_write
from everybit.common.codecfile import DecodedReader

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_VERBS = ("c", "d")
_LEGACY_NOTE = "legacy bpez.py format (no magic; checked by zlib's Adler-32 only)"

EPILOG = f"""\
original form:
  %(prog)s c IN OUT   compress IN into OUT (as bpez.py did: OUT is replaced, IN kept)
  %(prog)s d IN OUT   decompress IN into OUT
  Used when the first FILE is exactly 'c' or 'd' and exactly two more follow ('-': stdin/stdout);
  options may come first (%(prog)s -v -T 4 c IN OUT). For files named c or d, write ./c.

Without FILE or with '-', stdin goes to stdout. FILE becomes FILE{SUFFIX} and back with -d; the input is
removed only after the output is complete and verified. Decompression also reads files written by the
original bpez.py (detected automatically; -v says so).
"""


def _block_size(text: str) -> int:
    """'1M', '64k', '256KiB', '65536' -> bytes; a power of two from 64 KiB to 16 MiB."""
    found = re.fullmatch(r"(\d+)\s*([kmg]?)(?:i?b)?", text.strip(), re.IGNORECASE)
    size = int(found[1]) * _UNITS[found[2].lower()] if found else 0
    if not MIN_BLOCK_SIZE <= size <= MAX_BLOCK_SIZE or size & (size - 1):
        raise argparse.ArgumentTypeError(f"block size must be a power of two from 64K to 16M, not {text!r}")
    return size


def _threads(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"threads must be a number >= 0, not {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = (
        "%(prog)s [-d | -t] [-c] [-k] [-f] [-1..-9] [-b SIZE] [-T N] [-q] [-v] [FILE ...]\n"
        "       %(prog)s [OPTIONS] {c,d} IN OUT"
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
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
            help={1: "fastest", 9: "smallest (default)"}.get(level, argparse.SUPPRESS),
        )
    parser.add_argument(
        "-b",
        "--block-size",
        type=_block_size,
        default=DEFAULT_BLOCK_SIZE,
        metavar="SIZE",
        help="block size when compressing, 64K..16M, a power of two (default 1M)",
    )
    parser.add_argument(
        "-T", "--threads", type=_threads, default=0, metavar="N", help="threads (default 0: all cores)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no -v notes")
    parser.add_argument("-v", "--verbose", action="store_true", help="report each file")
    parser.set_defaults(func=run, level=DEFAULT_LEVEL, prog=parser.prog)


def main() -> NoReturn:
    """Entry point of the ``bpez`` console script."""
    run_tool("bpez")


def _stdout() -> IO[bytes]:
    return sys.stdout.buffer


def _note(args: argparse.Namespace, message: str) -> None:
    if args.verbose and not args.quiet:
        print(message, file=sys.stderr)


def _percent(n_in: int, n_out: int) -> str:
    return f"{100 * (1 - n_out / n_in):.1f}% saved" if n_in else "empty"


def _format_note(reader: DecodedReader) -> str:
    return f" ({_LEGACY_NOTE})" if reader.decoder.format == "legacy" else ""


def _finish_output(dst: str, st: os.stat_result) -> None:
    # Like gzip: the output carries the input's times (its mode was set when it was written).
    try:
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError as exc:
        raise OutputError(f"{dst}: cannot set its times ({exc.strerror})") from exc


def _remove_input(src: str, st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):  # never delete a fifo or device someone pointed us at
        os.unlink(src)


def _opts(args: argparse.Namespace) -> dict[str, int]:
    return {"level": args.level, "block_size": args.block_size, "threads": args.threads}


def _verify(dst: str, n_in: int, threads: int) -> None:
    """Read back what was written before the only other copy of the data goes."""
    try:
        n_check = decompress_file(dst, None, threads=threads)[1]
    except CorruptDataError as exc:
        n_check, problem = -1, str(exc)
    else:
        problem = f"decodes to {n_check:,} bytes, not {n_in:,}"
    if n_check != n_in:
        os.unlink(dst)
        raise OutputError(f"{dst}: the written file failed its check ({problem}); input kept")


def _compress_one(src: str, args: argparse.Namespace) -> None:
    if src == "-" or args.stdout:
        source = sys.stdin.buffer if src == "-" else _input(src)
        n_in, n_out = compress_file(source, _stdout(), **_opts(args))
        _note(args, f"{_name(src)}: {_percent(n_in, n_out)}")
        return
    st = os.stat(_input(src))
    if src.endswith(SUFFIX):
        raise InputError(f"{src}: already has the {SUFFIX} suffix, left unchanged")
    dst = src + SUFFIX
    with atomic_write(dst, overwrite=args.force, mode=stat.S_IMODE(st.st_mode)) as out:
        n_in, n_out = compress_file(src, out, **_opts(args))
    _finish_output(dst, st)
    if not args.keep:
        _verify(dst, n_in, args.threads)
        _remove_input(src, st)
    _note(args, f"{src}: {_percent(n_in, n_out)} -- {'created' if args.keep else 'replaced with'} {dst}")


def _decompress_one(src: str, args: argparse.Namespace) -> None:
    if src == "-" or args.test or args.stdout:
        source = sys.stdin.buffer if src == "-" else open(_input(src), "rb")  # noqa: SIM115
        try:
            reader, _ = decode_stream(
                source, None if args.test else _stdout(), threads=args.threads, label=_name(src)
            )
        finally:
            if source is not sys.stdin.buffer:
                source.close()
        _note(args, f"{_name(src)}: OK{_format_note(reader)}")
        return
    st = os.stat(_input(src))
    dst = src[: -len(SUFFIX)]
    if not src.endswith(SUFFIX) or not os.path.basename(dst):
        raise InputError(
            f"{src}: unknown suffix, expected {SUFFIX} (use -c, or 'bpez d IN OUT' to name the output)"
        )
    with (
        atomic_write(dst, overwrite=args.force, mode=stat.S_IMODE(st.st_mode)) as out,
        open(src, "rb") as fin,
    ):
        reader, n_out = decode_stream(fin, out, threads=args.threads, label=src)
    _finish_output(dst, st)
    if not args.keep:
        # Every block and its checksum were checked while decoding; the file on disk must be complete.
        if os.stat(dst).st_size != n_out:
            raise OutputError(f"{dst}: written size differs from the {n_out:,} bytes decoded; input kept")
        _remove_input(src, st)
    done = "created" if args.keep else "replaced with"
    _note(args, f"{src}: {_percent(n_out, reader.consumed)} -- {done} {dst}{_format_note(reader)}")


def _verb(verb: str, src: str, dst: str, args: argparse.Namespace) -> None:
    """``bpez c IN OUT`` / ``bpez d IN OUT``, as the original: OUT replaced atomically, IN kept."""
    if args.stdout or args.test or args.decompress:
        raise UsageError(f"-c, -d and -t don't apply to '{verb} IN OUT' (see '{args.prog} --help')")
    if src != "-":
        _input(src)
    if src != "-" and dst != "-" and os.path.exists(dst) and os.path.samefile(src, dst):
        raise InputError(f"{src}: input and output are the same file")
    source = sys.stdin.buffer if src == "-" else open(src, "rb")  # noqa: SIM115
    try:
        if dst == "-":
            _verb_to(verb, source, _stdout(), src, dst, args)
        else:
            with atomic_write(dst, overwrite=True) as out:
                _verb_to(verb, source, out, src, dst, args)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _verb_to(
    verb: str, source: IO[bytes], out: IO[bytes], src: str, dst: str, args: argparse.Namespace
) -> None:
    name = "stdout" if dst == "-" else dst
    if verb == "c":
        n_in, n_out = compress_file(source, out, **_opts(args))
        _note(args, f"{_name(src)}: {_percent(n_in, n_out)} -- wrote {name}")
    else:
        reader, n_out = decode_stream(source, out, threads=args.threads, label=_name(src))
        _note(args, f"{_name(src)}: {_percent(n_out, reader.consumed)} -- wrote {name}{_format_note(reader)}")


def _name(src: str) -> str:
    return "stdin" if src == "-" else src


def _input(src: str) -> str:
    if os.path.isdir(src):
        raise InputError(f"{src}: is a directory, skipped")
    return src


def _report(prog: str, src: str, exc: BaseException) -> None:
    message = describe(exc)[0]
    if isinstance(exc, CorruptDataError):
        message = f"{_name(src)}: {message}"
    print(f"{prog}: error: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    prog = args.prog.split()[0]  # 'bpez', or 'everybit' when run as 'everybit bpez'
    files = args.files or ["-"]
    if len(files) == 3 and files[0] in _VERBS:
        verb, src, dst = files
        try:
            _verb(verb, src, dst, args)
        except (EverybitError, OSError) as exc:
            if isinstance(exc, UsageError | BrokenPipeError):
                raise
            _report(prog, src, exc)
            return 1
        finally:
            if dst == "-":
                _stdout().flush()
        return 0
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
            _report(prog, src, exc)
            failed += 1
    if to_stdout:
        _stdout().flush()
    return 1 if failed else 0
