"""The gzip-like command every codec shares (``everybit.common.codeccli``), run as a user's shell would:
a child process of the real entry point, for ``ulz`` and ``bpez`` alike."""

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from everybit.common.atomic import TMP_MARK
from tests.codecs.conftest import CODECS, Codec
from tests.helpers import ROOT

pytestmark = pytest.mark.parametrize("codec", CODECS, ids=str)
DATA = b"".join(b"%d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40000))


def cli(codec: Codec, *args: str, cwd: Path, stdin: bytes | None = b"", stdout=None, umbrella: bool = False):
    """``TOOL ARGS`` in ``cwd`` (``everybit TOOL ARGS`` if ``umbrella``); stdout and stderr captured."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["EVERYBIT_NO_PROGRESS"] = "1"
    runner = f"from everybit.{codec.name}.cli import main; main()"
    if umbrella:
        runner, args = "from everybit.cli import main; main()", (codec.name, *args)
    return subprocess.run(
        [sys.executable, "-c", runner, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )


def streamed(codec: Codec, **options) -> bytes:
    """DATA as the command writes it: one frame, streamed (so no content size in the header)."""
    comp = codec.module.Compressor(**options)
    return comp.compress(DATA) + comp.flush()


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return proc.stderr.decode().splitlines()


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if TMP_MARK in p.name]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(DATA)
    path.chmod(0o640)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_500_000_000_123_456_789))
    return path


def test_round_trip_through_files_keeps_mode_and_times(codec, sample, tmp_path):
    proc = cli(codec, "-T", "2", "-B", "64K", "data.txt", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    packed = tmp_path / f"data.txt{codec.spec.suffix}"
    assert not sample.exists() and packed.exists()
    assert packed.read_bytes() == streamed(codec, block_size=1 << 16)  # any -T gives the same bytes
    assert packed.read_bytes()[6] == 16  # -B 64K
    assert packed.stat().st_mode & 0o777 == 0o640
    assert packed.stat().st_mtime_ns == 1_500_000_000_123_456_789

    proc = cli(codec, "-d", "-v", packed.name, cwd=tmp_path)
    assert proc.returncode == 0 and b"replaced with data.txt" in proc.stderr
    assert sample.read_bytes() == DATA and not packed.exists()
    assert sample.stat().st_mode & 0o777 == 0o640
    assert sample.stat().st_mtime_ns == 1_500_000_000_123_456_789
    assert no_temp_files(tmp_path)


def test_stdin_to_stdout_levels_and_concatenated_frames(codec, tmp_path):
    lz = codec.module
    fast, best = (
        cli(codec, "--fast", cwd=tmp_path, stdin=DATA),
        cli(codec, "--best", cwd=tmp_path, stdin=DATA),
    )
    assert fast.returncode == best.returncode == 0 and fast.stderr == best.stderr == b""
    assert fast.stdout == streamed(codec, level=1)
    assert lz.decompress(fast.stdout) == lz.decompress(best.stdout) == DATA
    assert len(best.stdout) < len(fast.stdout)
    assert cli(codec, "-9", cwd=tmp_path, stdin=DATA).stdout == best.stdout
    back = cli(codec, "-d", "-", cwd=tmp_path, stdin=fast.stdout)
    assert (back.returncode, back.stdout) == (0, DATA)
    both = cli(codec, "-d", cwd=tmp_path, stdin=fast.stdout + lz.compress(b"tail"))
    assert both.stdout == DATA + b"tail"
    assert list(tmp_path.iterdir()) == []


def test_keep_and_stdout_leave_the_input(codec, sample, tmp_path):
    lz, packed = codec.module, tmp_path / f"data.txt{codec.spec.suffix}"
    assert cli(codec, "-k", "data.txt", cwd=tmp_path).returncode == 0
    assert sample.read_bytes() == DATA and lz.decompress(packed.read_bytes()) == DATA
    proc = cli(codec, "-c", "data.txt", "data.txt", cwd=tmp_path)
    assert proc.returncode == 0 and sample.exists()
    assert lz.decompress(proc.stdout) == DATA + DATA
    proc = cli(codec, "-dc", packed.name, cwd=tmp_path)
    assert proc.stdout == DATA and packed.exists()


def test_refuses_to_overwrite_without_force(codec, sample, tmp_path):
    existing = tmp_path / f"data.txt{codec.spec.suffix}"
    existing.write_bytes(b"precious")
    proc = cli(codec, "data.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == [f"{codec}: error: {existing.name}: already exists (use --force to overwrite)"]
    assert existing.read_bytes() == b"precious" and sample.read_bytes() == DATA
    assert cli(codec, "-f", "data.txt", cwd=tmp_path).returncode == 0
    assert codec.module.decompress(existing.read_bytes()) == DATA and not sample.exists()
    assert no_temp_files(tmp_path)


def test_test_mode_and_corrupt_input_kept(codec, sample, tmp_path):
    packed = tmp_path / f"data.txt{codec.spec.suffix}"
    assert cli(codec, "-B", "64k", "data.txt", cwd=tmp_path).returncode == 0
    proc = cli(codec, "-t", "-v", packed.name, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, errors(proc)) == (0, b"", [f"{packed.name}: OK"])

    blob = bytearray(packed.read_bytes())
    blob[-200] ^= 0xFF  # inside the last block's data
    packed.write_bytes(bytes(blob))
    before = sorted(tmp_path.iterdir())
    for args in (["-t"], ["-d"], ["-d", "-T", "3"]):
        proc = cli(codec, *args, packed.name, cwd=tmp_path)
        assert proc.returncode == 1
        [line] = errors(proc)
        assert line.startswith(f"{codec}: error: {packed.name}: block "), line
        assert sorted(tmp_path.iterdir()) == before  # input kept, no output, no temp file


def test_a_failing_file_does_not_stop_the_others(codec, tmp_path):
    suf = codec.spec.suffix
    (tmp_path / f"bad{suf}").write_bytes(b"not a frame at all")
    (tmp_path / f"good{suf}").write_bytes(codec.module.compress(b"good\n"))
    (tmp_path / "plain").write_bytes(b"x")
    (tmp_path / f"dir{suf}").mkdir()
    proc = cli(codec, "-d", f"bad{suf}", f"missing{suf}", "plain", f"dir{suf}", f"good{suf}", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == [
        f"{codec}: error: bad{suf}: bad magic ({codec.spec.not_magic}) at offset 0",
        f"{codec}: error: missing{suf}: No such file or directory",
        f"{codec}: error: plain: unknown suffix, expected {suf} (use -c to decompress it to stdout)",
        f"{codec}: error: dir{suf}: is a directory, skipped",
    ]
    assert (tmp_path / "good").read_bytes() == b"good\n" and not (tmp_path / f"good{suf}").exists()
    assert (tmp_path / f"bad{suf}").exists() and (tmp_path / "plain").exists()


def test_compress_skips_files_that_already_have_the_suffix(codec, tmp_path):
    name = f"x{codec.spec.suffix}"
    (tmp_path / name).write_bytes(b"data")
    proc = cli(codec, name, cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == [
        f"{codec}: error: {name}: already has the {codec.spec.suffix} suffix, left unchanged"
    ]


def test_list_shows_sizes_like_gzip(codec, sample, tmp_path):
    assert cli(codec, "-k", "-B", "64k", "data.txt", cwd=tmp_path).returncode == 0
    (tmp_path / "two").write_bytes(codec.module.compress(b"") + codec.module.compress(b"abc" * 1000))
    packed = tmp_path / f"data.txt{codec.spec.suffix}"
    proc = cli(codec, "-l", packed.name, "two", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == b""
    head, first, second, totals = proc.stdout.decode().splitlines()
    assert head.split() == ["compressed", "uncompressed", "ratio", "uncompressed_name"]
    size = packed.stat().st_size
    assert first.split() == [str(size), str(len(DATA)), f"{100 * (1 - size / len(DATA)):.1f}%", "data.txt"]
    assert second.split()[1:] == ["3000", second.split()[2], "two"]
    assert totals.split()[:2] == [str(size + (tmp_path / "two").stat().st_size), str(len(DATA) + 3000)]
    proc = cli(codec, "-l", cwd=tmp_path, stdin=packed.read_bytes())
    assert proc.stdout.decode().splitlines()[1].split()[1:2] == [str(len(DATA))]


def test_recursive_and_suffix(codec, tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/a", "d/e/b", "d/e/c.z"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    proc = cli(codec, "-r", "-S", ".z", "d", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["d/a.z", "d/e/b.z", "d/e/c.z"]  # c.z already had the suffix: left alone
    assert (tmp_path / "d/e/c.z").read_bytes() == b"d/e/c.z" * 100
    proc = cli(codec, "-d", "-r", "--suffix=.z", "d", cwd=tmp_path)
    assert proc.returncode == 1 and b"d/e/c.z: bad magic" in proc.stderr
    assert (tmp_path / "d/a").read_bytes() == b"d/a" * 100 and (tmp_path / "d/e/b").exists()
    assert cli(codec, "d", cwd=tmp_path).stderr.decode().endswith("d: is a directory, skipped\n")
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-B", "1000"], "argument -B/--block-size: must be a power of two in 64k.."),
        (["-B", "128M"], "must be a power of two"),
        (["--threads=-1"], "threads must be a number >= 0 (0 = all cores), not '-1'"),
        (["-d", "-t"], "not allowed with argument"),
        (["-l", "-d"], "not allowed with argument"),
        (["-S", ""], "invalid suffix ''"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2(codec, tmp_path, args, needle):
    proc = cli(codec, *args, cwd=tmp_path)
    assert proc.returncode == 2
    [line] = errors(proc)
    assert line.startswith(f"{codec}: error: ") and needle in line


def test_refuses_compressed_data_to_a_terminal(codec, tmp_path):
    main, secondary = pty.openpty()
    try:
        proc = cli(codec, cwd=tmp_path, stdin=b"abc", stdout=secondary)
    finally:
        os.close(main)
        os.close(secondary)
    assert proc.returncode == 1
    assert errors(proc) == [f"{codec}: error: compressed data not written to a terminal (use -f to force)"]


def test_a_full_disk_names_the_output(codec, tmp_path):
    with open("/dev/full", "wb") as full:
        proc = cli(codec, "-c", cwd=tmp_path, stdin=DATA, stdout=full)
    assert (proc.returncode, errors(proc)) == (1, [f"{codec}: error: <stdout>: No space left on device"])


def test_umbrella_command_and_truncated_input(codec, tmp_path):
    blob = codec.module.compress(DATA)
    proc = cli(codec, "-d", cwd=tmp_path, stdin=blob[:-5], umbrella=True)
    assert proc.returncode == 1
    [line] = errors(proc)
    assert line.startswith("everybit: error: stdin: truncated frame: end of frame at offset ")
