"""``fake MODE [PATH]``: behaviours the umbrella CLI must handle, one per mode."""

import argparse
import time

from everybit.common import InputError, UsageError, atomic_write


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=["ok", "input", "usage", "oserror", "crash", "torch", "slow-write"])
    parser.add_argument("path", nargs="?")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int | None:
    if args.mode == "input":
        raise InputError("data.bin: bad magic at offset 0")
    if args.mode == "usage":
        raise UsageError("--level must be 1..9")
    if args.mode == "oserror":
        with open("/nonexistent/dir/file.bin", "rb"):
            pass
    if args.mode == "crash":
        raise RuntimeError("boom\nsecond line")
    if args.mode == "torch":
        raise ModuleNotFoundError("No module named 'torch'", name="torch")
    if args.mode == "slow-write":
        # Writes 1 KiB chunks forever-ish so a test can interrupt it half way.
        with atomic_write(args.path) as fh:
            for _ in range(100_000):
                fh.write(b"n" * 1024)
                fh.flush()
                time.sleep(0.001)
    print("ok")
    return None
