"""The ``ulz`` command, run as a user's shell would: a child process of the real entry point."""

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from everybit.common.atomic import TMP_MARK
from everybit.ulz import ULZError, frame
from tests.helpers import ROOT

ULZ = "from everybit.ulz.cli import main; main()"
DATA = b"".join(b"%d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40000))


def ulz(*args: str, cwd: Path, stdin: bytes | None = b"", stdout=None, **kw) -> subprocess.CompletedProcess:
    """``ulz ARGS`` in ``cwd``; stdout and stderr captured as bytes unless ``stdout`` is given."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["EVERYBIT_NO_PROGRESS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", kw.pop("runner", ULZ), *args],
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
    proc = ulz("-T", "2", "-B", "64K", "data.txt", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    packed = tmp_path / "data.txt.ulz"
    assert not sample.exists() and packed.exists()
    assert frame.decompress(packed.read_bytes()) == DATA
    assert packed.read_bytes()[6] == 16  # -B 64K
    assert packed.stat().st_mode & 0o777 == 0o640
    assert packed.stat().st_mtime_ns == 1_500_000_000_123_456_789

    proc = ulz("-d", "-v", "data.txt.ulz", cwd=tmp_path)
    assert proc.returncode == 0 and b"replaced with data.txt" in proc.stderr
    assert sample.read_bytes() == DATA and not packed.exists()
    assert sample.stat().st_mode & 0o777 == 0o640
    assert sample.stat().st_mtime_ns == 1_500_000_000_123_456_789
    assert no_temp_files(tmp_path)


def test_stdin_to_stdout(tmp_path):
    packed = ulz("-9", cwd=tmp_path, stdin=DATA)
    assert packed.returncode == 0 and packed.stderr == b""
    assert frame.decompress(packed.stdout) == DATA
    assert len(packed.stdout) < len(ulz("-1", cwd=tmp_path, stdin=DATA).stdout)
    back = ulz("-d", "-", cwd=tmp_path, stdin=packed.stdout)
    assert (back.returncode, back.stdout) == (0, DATA)
    both = ulz("-d", cwd=tmp_path, stdin=packed.stdout + frame.compress(b"tail"))
    assert both.stdout == DATA + b"tail"  # concatenated frames
    assert list(tmp_path.iterdir()) == []


def test_keep_and_stdout_leave_the_input(sample, tmp_path):
    assert ulz("-k", "data.txt", cwd=tmp_path).returncode == 0
    assert sample.read_bytes() == DATA
    assert frame.decompress((tmp_path / "data.txt.ulz").read_bytes()) == DATA
    proc = ulz("-c", "data.txt", "data.txt", cwd=tmp_path)
    assert proc.returncode == 0 and sample.exists()
    assert frame.decompress(proc.stdout) == DATA + DATA
    proc = ulz("-dc", "data.txt.ulz", cwd=tmp_path)
    assert proc.stdout == DATA and (tmp_path / "data.txt.ulz").exists()


def test_refuses_to_overwrite_without_force(sample, tmp_path):
    existing = tmp_path / "data.txt.ulz"
    existing.write_bytes(b"precious")
    proc = ulz("data.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == ["ulz: error: data.txt.ulz: already exists (use --force to overwrite)"]
    assert existing.read_bytes() == b"precious" and sample.read_bytes() == DATA
    assert ulz("-f", "data.txt", cwd=tmp_path).returncode == 0
    assert frame.decompress(existing.read_bytes()) == DATA and not sample.exists()
    assert no_temp_files(tmp_path)


def corrupt(path: Path) -> int:
    """Flip a byte inside block 1 of a 64 KiB-block file; returns that block's offset."""
    blob = bytearray(path.read_bytes())
    offset = 8 + 4 + (int.from_bytes(blob[8:12], "little") & (2**30 - 1)) + 4  # 8: no content size
    blob[offset + 10] ^= 0xFF
    path.write_bytes(bytes(blob))
    return offset


def test_test_mode_and_corrupt_input_kept(sample, tmp_path):
    assert ulz("-B", "64k", "data.txt", cwd=tmp_path).returncode == 0
    proc = ulz("-t", "-v", "data.txt.ulz", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, errors(proc)) == (0, b"", ["data.txt.ulz: OK"])

    offset = corrupt(tmp_path / "data.txt.ulz")
    before = sorted(tmp_path.iterdir())
    for args in (["-t"], ["-d"], ["-d", "-T", "3"]):
        proc = ulz(*args, "data.txt.ulz", cwd=tmp_path)
        assert proc.returncode == 1
        [line] = errors(proc)
        assert line.startswith(f"ulz: error: data.txt.ulz: block 1 (offset {offset}): ")
        assert sorted(tmp_path.iterdir()) == before  # input kept, no output, no temp file


def test_a_failing_file_does_not_stop_the_others(sample, tmp_path):
    (tmp_path / "bad.ulz").write_bytes(b"not a frame at all")
    (tmp_path / "good.ulz").write_bytes(frame.compress(b"good\n"))
    (tmp_path / "plain").write_bytes(b"x")
    (tmp_path / "dir.ulz").mkdir()
    proc = ulz("-d", "bad.ulz", "missing.ulz", "plain", "dir.ulz", "good.ulz", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == [
        "ulz: error: bad.ulz: bad magic (not a ULZ frame) at offset 0",
        "ulz: error: missing.ulz: No such file or directory",
        "ulz: error: plain: unknown suffix, expected .ulz (use -c to decompress it to stdout)",
        "ulz: error: dir.ulz: is a directory, skipped",
    ]
    assert (tmp_path / "good").read_bytes() == b"good\n" and not (tmp_path / "good.ulz").exists()
    assert (tmp_path / "bad.ulz").exists() and (tmp_path / "plain").exists()


def test_compress_skips_files_that_already_have_the_suffix(tmp_path):
    (tmp_path / "x.ulz").write_bytes(b"data")
    proc = ulz("x.ulz", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == ["ulz: error: x.ulz: already has the .ulz suffix, left unchanged"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-B", "1000"], "block size must be a power of two from 64K to 64M, not '1000'"),
        (["-B", "128M"], "block size must be a power of two"),
        (["--threads=-1"], "threads must be a number >= 0, not '-1'"),
        (["-d", "-t"], "not allowed with argument"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, needle):
    proc = ulz(*args, cwd=tmp_path)
    assert proc.returncode == 2
    [line] = errors(proc)
    assert line.startswith("ulz: error: ") and needle in line


def test_refuses_compressed_data_to_a_terminal(tmp_path):
    main, secondary = pty.openpty()
    try:
        proc = ulz(cwd=tmp_path, stdin=b"abc", stdout=secondary)
    finally:
        os.close(main)
        os.close(secondary)
    assert proc.returncode == 1
    assert errors(proc) == ["ulz: error: compressed data not written to a terminal (use -f to force)"]


def test_umbrella_command_and_truncated_input(tmp_path):
    runner = "from everybit.cli import main; main()"
    blob = frame.compress(DATA)
    proc = ulz("ulz", "-d", cwd=tmp_path, stdin=blob[:-5], runner=runner)
    assert proc.returncode == 1
    assert errors(proc) == [
        f"everybit: error: stdin: truncated frame: content checksum at offset {len(blob) - 8}"
    ]
    with pytest.raises(ULZError):
        frame.decompress(blob[:-5])
