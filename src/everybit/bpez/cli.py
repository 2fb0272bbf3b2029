"""``bpez [-d | -t | -l] [options] [FILE ...]``, the gzip-like command for .bpez files, and the original's
``bpez c IN OUT`` / ``bpez d IN OUT``.

The gzip-like form is the shared codec driver's (``everybit.common.codeccli``, docs/cli.md): level 9 by
default, 1 MiB blocks (``-B 64k``..``-B 16M``; the old ``-b`` still works, with a warning), every core.
Decompression reads the files of the original bpez.py too (they have no magic; ``-v`` says when one was
recognized).

Original form: when the first FILE operand is exactly ``c`` or ``d`` and exactly two more follow,
``bpez c IN OUT`` compresses IN into OUT and ``bpez d IN OUT`` decompresses it, as bpez.py did: OUT is
replaced (atomically) if it exists, IN is always kept, ``-`` means stdin/stdout. To compress files
really named ``c`` or ``d``, write ``./c``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, NoReturn

from everybit.bpez.format import BPEZ
from everybit.common import codeccli
from everybit.common.atomic import atomic_write
from everybit.common.cli import run_tool
from everybit.common.cliargs import deprecated_alias
from everybit.common.errors import EverybitError, InputError, UsageError

_VERBS = ("c", "d")
NOTES = {"legacy": "legacy bpez.py format (no magic; checked by zlib's Adler-32 only)"}

EPILOG = f"""\
original form:
  %(prog)s c IN OUT   compress IN into OUT (as bpez.py did: OUT is replaced, IN kept)
  %(prog)s d IN OUT   decompress IN into OUT
  Used when the first FILE is exactly 'c' or 'd' and exactly two more follow ('-': stdin/stdout);
  options may come first (%(prog)s -v -T 4 c IN OUT). For files named c or d, write ./c.

Without FILE or with '-', stdin goes to stdout. FILE becomes FILE{BPEZ.suffix} and back with -d; the input
is removed only after the output is complete and verified. Decompression also reads files written by the
original bpez.py (detected automatically; -v says so).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    codeccli.configure(parser, BPEZ, NOTES)
    parser.usage += "\n       %(prog)s [OPTIONS] {c,d} IN OUT"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    deprecated_alias(
        parser, "-b", dest="block_size", new="-B/--block-size", type=codeccli.block_size_type(BPEZ)
    )
    parser.set_defaults(func=run)


def main() -> NoReturn:
    """Entry point of the ``bpez`` console script."""
    run_tool("bpez")


def run(args: argparse.Namespace) -> int:
    files = args.files
    if len(files) != 3 or files[0] not in _VERBS:
        return codeccli.run(args, BPEZ, NOTES)
    verb, src, dst = files
    try:
        _verb(verb, src, dst, args)
    except (EverybitError, OSError) as exc:
        if isinstance(exc, UsageError | BrokenPipeError):
            raise
        codeccli.report(args.prog.split()[0], src, exc)
        return 1
    return 0


def _verb(verb: str, src: str, dst: str, args: argparse.Namespace) -> None:
    """``bpez c IN OUT`` / ``bpez d IN OUT``, as the original: OUT replaced atomically, IN kept."""
    if args.stdout or args.test or args.decompress or args.list:
        raise UsageError(f"-c, -d, -t and -l don't apply to '{verb} IN OUT' (see '{args.prog} --help')")
    if src != "-" and os.path.isdir(src):
        raise InputError(f"{src}: is a directory, skipped")
    if src != "-" and dst != "-" and os.path.exists(dst) and os.path.samefile(src, dst):
        raise InputError(f"{src}: input and output are the same file")
    source = sys.stdin.buffer if src == "-" else open(src, "rb")  # noqa: SIM115 - closed below
    try:
        if dst == "-":
            out = codeccli.Stdout()
            _verb_to(verb, source, out, src, "stdout", args)
            out.flush()
        else:
            with atomic_write(dst, overwrite=True) as fout:
                _verb_to(verb, source, fout, src, dst, args)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _verb_to(
    verb: str, source: IO[bytes], out: IO[bytes], src: str, name: str, args: argparse.Namespace
) -> None:
    label = "stdin" if src == "-" else src
    if verb == "c":
        opts = {"level": args.level, "threads": args.threads, "block_size": args.block_size}
        n_in, n_out = BPEZ.compress_file(source, out, **opts)
        codeccli.note(args, f"{label}: {codeccli.percent(n_in, n_out)} -- wrote {name}")
    else:
        reader, n_out = codeccli.decode(BPEZ, source, out, args.threads, src)
        saved = codeccli.percent(n_out, reader.consumed)
        codeccli.note(args, f"{label}: {saved} -- wrote {name}{codeccli.format_note(NOTES, reader)}")
