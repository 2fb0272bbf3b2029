"""The ``bpez`` command, run as a user's shell would: a child process of the real entry point."""

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from everybit import bpez
from everybit.common.atomic import TMP_MARK
from tests.bpez import legacy_writer
from tests.helpers import ROOT

BPEZ = "from everybit.bpez.cli import main; main()"
DATA = b"".join(b"%d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40000))


def run(*args: str, cwd: Path, stdin: bytes | None = b"", stdout=None, **kw) -> subprocess.CompletedProcess:
    """``bpez ARGS`` in ``cwd``; stdout and stderr captured as bytes unless ``stdout`` is given."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["EVERYBIT_NO_PROGRESS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", kw.pop("runner", BPEZ), *args],
        cwd=cwd,
        env=env,
        input=stdin,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return proc.stderr.decode().splitlines()


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if TMP_MARK in p.name]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(DATA)
    path.chmod(0o640)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_500_000_000_123_456_789))
    return path


def test_round_trip_through_files_keeps_mode_and_times(sample, tmp_path):
    proc = run("-T", "2", "-b", "64K", "data.txt", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    packed = tmp_path / "data.txt.bpez"
    assert not sample.exists() and packed.exists()
    assert packed.read_bytes() == bpez.compress(DATA, 9, 1 << 16)  # -9 by default; any -T gives the same
    assert packed.stat().st_mode & 0o777 == 0o640
    assert packed.stat().st_mtime_ns == 1_500_000_000_123_456_789

    proc = run("-d", "-v", "data.txt.bpez", cwd=tmp_path)
    assert proc.returncode == 0 and b"replaced with data.txt" in proc.stderr
    assert sample.read_bytes() == DATA and not packed.exists()
    assert sample.stat().st_mode & 0o777 == 0o640
    assert sample.stat().st_mtime_ns == 1_500_000_000_123_456_789
    assert no_temp_files(tmp_path)


def test_stdin_to_stdout_and_levels(tmp_path):
    packed = run("-1", cwd=tmp_path, stdin=DATA)
    assert packed.returncode == 0 and packed.stderr == b""
    assert packed.stdout == bpez.compress(DATA, 1)
    assert len(run(cwd=tmp_path, stdin=DATA).stdout) < len(packed.stdout)
    back = run("-d", "-", cwd=tmp_path, stdin=packed.stdout)
    assert (back.returncode, back.stdout) == (0, DATA)
    both = run("-d", cwd=tmp_path, stdin=packed.stdout + bpez.compress(b"tail"))
    assert both.stdout == DATA + b"tail"  # concatenated frames
    assert list(tmp_path.iterdir()) == []


def test_keep_and_stdout_leave_the_input(sample, tmp_path):
    assert run("-k", "data.txt", cwd=tmp_path).returncode == 0
    assert sample.read_bytes() == DATA
    assert bpez.decompress((tmp_path / "data.txt.bpez").read_bytes()) == DATA
    proc = run("-c", "data.txt", "data.txt", cwd=tmp_path)
    assert proc.returncode == 0 and sample.exists()
    assert bpez.decompress(proc.stdout) == DATA + DATA
    proc = run("-dc", "data.txt.bpez", cwd=tmp_path)
    assert proc.stdout == DATA and (tmp_path / "data.txt.bpez").exists()


def test_refuses_to_overwrite_without_force(sample, tmp_path):
    existing = tmp_path / "data.txt.bpez"
    existing.write_bytes(b"precious")
    proc = run("data.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == ["bpez: error: data.txt.bpez: already exists (use --force to overwrite)"]
    assert existing.read_bytes() == b"precious" and sample.read_bytes() == DATA
    assert run("-f", "data.txt", cwd=tmp_path).returncode == 0
    assert bpez.decompress(existing.read_bytes()) == DATA and not sample.exists()
    assert no_temp_files(tmp_path)


def corrupt(path: Path) -> int:
    """Flip a byte inside block 1 of a 64 KiB-block file; returns that block's offset."""
    blob = bytearray(path.read_bytes())
    pos = 8
    cycles = blob[pos + 5]
    length = int.from_bytes(blob[pos + 6 + 3 * cycles : pos + 10 + 3 * cycles], "little")
    offset = pos + 10 + 3 * cycles + length + 4
    cycles = blob[offset + 5]
    blob[offset + 10 + 3 * cycles + 5] ^= 0xFF  # inside its payload
    path.write_bytes(bytes(blob))
    return offset


def test_test_mode_and_corrupt_input_kept(sample, tmp_path):
    assert run("-b", "64k", "data.txt", cwd=tmp_path).returncode == 0
    proc = run("-t", "-v", "data.txt.bpez", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, errors(proc)) == (0, b"", ["data.txt.bpez: OK"])

    offset = corrupt(tmp_path / "data.txt.bpez")
    before = sorted(tmp_path.iterdir())
    for args in (["-t"], ["-d"], ["-d", "-T", "3"], ["d", "data.txt.bpez", "out"]):
        proc = run(*args, *(["data.txt.bpez"] if args[0] != "d" else []), cwd=tmp_path)
        assert proc.returncode == 1
        [line] = errors(proc)
        assert line.startswith(f"bpez: error: data.txt.bpez: block 1 (offset {offset}): "), line
        assert sorted(tmp_path.iterdir()) == before  # input kept, no output, no temp file


def test_a_failing_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "bad.bpez").write_bytes(b"not a frame at all")
    (tmp_path / "good.bpez").write_bytes(bpez.compress(b"good\n"))
    (tmp_path / "plain").write_bytes(b"x")
    (tmp_path / "dir.bpez").mkdir()
    proc = run("-d", "bad.bpez", "missing.bpez", "plain", "dir.bpez", "good.bpez", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == [
        "bpez: error: bad.bpez: bad magic (neither a bpez file nor one of the original bpez.py) at offset 0",
        "bpez: error: missing.bpez: No such file or directory",
        "bpez: error: plain: unknown suffix, expected .bpez (use -c, or 'bpez d IN OUT' to name the output)",
        "bpez: error: dir.bpez: is a directory, skipped",
    ]
    assert (tmp_path / "good").read_bytes() == b"good\n" and not (tmp_path / "good.bpez").exists()
    assert (tmp_path / "bad.bpez").exists() and (tmp_path / "plain").exists()


def test_compress_skips_files_that_already_have_the_suffix(tmp_path):
    (tmp_path / "x.bpez").write_bytes(b"data")
    proc = run("x.bpez", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == ["bpez: error: x.bpez: already has the .bpez suffix, left unchanged"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-b", "1000"], "block size must be a power of two from 64K to 16M, not '1000'"),
        (["-b", "32M"], "block size must be a power of two"),
        (["--threads=-1"], "threads must be a number >= 0, not '-1'"),
        (["-d", "-t"], "not allowed with argument"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-d", "c", "in", "out"], "-c, -d and -t don't apply to 'c IN OUT'"),
        (["-c", "d", "in", "out"], "-c, -d and -t don't apply to 'd IN OUT'"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, needle):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    [line] = errors(proc)
    assert line.startswith("bpez: error: ") and needle in line


def test_refuses_compressed_data_to_a_terminal(tmp_path):
    main, secondary = pty.openpty()
    try:
        proc = run(cwd=tmp_path, stdin=b"abc", stdout=secondary)
    finally:
        os.close(main)
        os.close(secondary)
    assert proc.returncode == 1
    assert errors(proc) == ["bpez: error: compressed data not written to a terminal (use -f to force)"]


def test_umbrella_command_and_truncated_input(tmp_path):
    runner = "from everybit.cli import main; main()"
    blob = bpez.compress(DATA)
    proc = run("bpez", "-d", cwd=tmp_path, stdin=blob[:-5], runner=runner)
    assert proc.returncode == 1
    assert errors(proc) == [
        f"everybit: error: stdin: truncated frame: end of frame at offset {len(blob) - 12}"
    ]
    proc = run("bpez", "c", "-", "-", cwd=tmp_path, stdin=b"abc", runner=runner)
    assert (proc.returncode, bpez.decompress(proc.stdout)) == (0, b"abc")


# -- the original's form: bpez c IN OUT / bpez d IN OUT --------------------------------------------


def test_original_verbs_round_trip_and_keep_the_input(sample, tmp_path):
    (tmp_path / "packed").write_bytes(b"old contents")  # replaced, as bpez.py did
    proc = run("c", "data.txt", "packed", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert (tmp_path / "packed").read_bytes() == bpez.compress(DATA)
    proc = run("-v", "-T", "2", "d", "packed", "back", cwd=tmp_path)
    assert proc.returncode == 0
    [note] = errors(proc)
    assert note.startswith("packed: ") and note.endswith("% saved -- wrote back")
    assert (tmp_path / "back").read_bytes() == DATA and sample.read_bytes() == DATA
    proc = run("d", "-", "-", cwd=tmp_path, stdin=(tmp_path / "packed").read_bytes())
    assert (proc.returncode, proc.stdout) == (0, DATA)
    assert no_temp_files(tmp_path)


def test_files_named_like_the_verbs(tmp_path):
    for name in ("c", "x", "y"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    proc = run("-k", "./c", "x", "y", cwd=tmp_path)  # ./c: three files, not the verb
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "c.bpez", "x", "x.bpez", "y", "y.bpez"]
    proc = run("c", "x", cwd=tmp_path)  # only two operands: a file named c (already compressed: refused)
    assert proc.returncode == 1 and b"c.bpez: already exists" in proc.stderr


def test_verb_refuses_the_same_file_and_leaves_no_partial_output(sample, tmp_path):
    proc = run("c", "data.txt", "./data.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == ["bpez: error: data.txt: input and output are the same file"]
    assert sample.read_bytes() == DATA
    bad = tmp_path / "bad"
    bad.write_bytes(bpez.compress(DATA, block_size=1 << 16)[:-100])
    (tmp_path / "out").write_bytes(b"precious")
    proc = run("d", "bad", "out", cwd=tmp_path)
    assert proc.returncode == 1 and b"truncated frame" in proc.stderr
    assert (tmp_path / "out").read_bytes() == b"precious" and bad.exists() and no_temp_files(tmp_path)


def test_legacy_files_are_read_and_named(tmp_path):
    legacy_file = tmp_path / "old.bin"
    legacy_file.write_bytes(legacy_writer.write(DATA[:300_000], block_size=100_000))
    proc = run("-v", "d", "old.bin", "new.txt", cwd=tmp_path)
    assert proc.returncode == 0
    assert (tmp_path / "new.txt").read_bytes() == DATA[:300_000]
    [note] = errors(proc)
    assert note.startswith("old.bin: ") and note.endswith(
        "-- wrote new.txt (legacy bpez.py format (no magic; checked by zlib's Adler-32 only))"
    )
    (tmp_path / "old.bpez").write_bytes(legacy_file.read_bytes())
    proc = run("-t", "-v", "old.bpez", cwd=tmp_path)
    assert errors(proc) == [
        "old.bpez: OK (legacy bpez.py format (no magic; checked by zlib's Adler-32 only))"
    ]
    proc = run("-d", "old.bpez", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "old").read_bytes() == DATA[:300_000]
    proc = run("-d", "-v", cwd=tmp_path, stdin=bpez.compress(b"new"))
    assert (proc.stdout, errors(proc)) == (b"new", ["stdin: OK"])  # no legacy note for the framed format


def test_help_explains_both_forms(tmp_path):
    proc = run("--help", cwd=tmp_path)
    text = proc.stdout.decode()
    assert proc.returncode == 0
    assert "bpez [OPTIONS] {c,d} IN OUT" in text and "-b SIZE" in text and "write ./c" in text
