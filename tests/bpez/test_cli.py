"""What only the ``bpez`` command does: the original's ``bpez c IN OUT`` / ``bpez d IN OUT``, legacy files
named in ``-v`` notes, and the old ``-b``. The gzip-like form both codecs share: tests/codecs/test_cli.py."""

from pathlib import Path

import pytest

from everybit import bpez
from tests.bpez import legacy_writer
from tests.codecs.conftest import CODECS
from tests.codecs.test_cli import DATA, errors, no_temp_files
from tests.codecs.test_cli import cli as codec_cli

BPEZ = next(c for c in CODECS if c.name == "bpez")
LEGACY_NOTE = "legacy bpez.py format (no magic; checked by zlib's Adler-32 only)"


def run(*args: str, cwd: Path, **kw):
    return codec_cli(BPEZ, *args, cwd=cwd, **kw)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(DATA)
    return path


def test_original_verbs_round_trip_and_keep_the_input(sample, tmp_path):
    (tmp_path / "packed").write_bytes(b"old contents")  # replaced, as bpez.py did
    proc = run("c", "data.txt", "packed", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert bpez.decompress((tmp_path / "packed").read_bytes()) == DATA
    proc = run("-v", "-T", "2", "d", "packed", "back", cwd=tmp_path)
    assert proc.returncode == 0
    [note] = errors(proc)
    assert note.startswith("packed: ") and note.endswith("% saved -- wrote back")
    assert (tmp_path / "back").read_bytes() == DATA and sample.read_bytes() == DATA
    proc = run("d", "-", "-", cwd=tmp_path, stdin=(tmp_path / "packed").read_bytes())
    assert (proc.returncode, proc.stdout) == (0, DATA)
    proc = run("c", "-", "-", cwd=tmp_path, stdin=b"abc", umbrella=True)
    assert (proc.returncode, bpez.decompress(proc.stdout)) == (0, b"abc")
    assert no_temp_files(tmp_path)


def test_files_named_like_the_verbs(tmp_path):
    for name in ("c", "x", "y"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    proc = run("-k", "./c", "x", "y", cwd=tmp_path)  # ./c: three files, not the verb
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "c.bpez", "x", "x.bpez", "y", "y.bpez"]
    proc = run("c", "x", cwd=tmp_path)  # only two operands: a file named c (already compressed: refused)
    assert proc.returncode == 1 and b"c.bpez: already exists" in proc.stderr


def test_verb_errors(sample, tmp_path):
    proc = run("c", "data.txt", "./data.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert errors(proc) == ["bpez: error: data.txt: input and output are the same file"]
    assert sample.read_bytes() == DATA
    bad = tmp_path / "bad"
    bad.write_bytes(bpez.compress(DATA, block_size=1 << 16)[:-100])
    (tmp_path / "out").write_bytes(b"precious")
    proc = run("d", "bad", "out", cwd=tmp_path)
    assert proc.returncode == 1 and b"bpez: error: bad: truncated frame" in proc.stderr
    assert (tmp_path / "out").read_bytes() == b"precious" and bad.exists() and no_temp_files(tmp_path)
    for flag in ("-d", "-c", "-t", "-l"):
        proc = run(flag, "c", "in", "out", cwd=tmp_path)
        assert proc.returncode == 2 and b"-c, -d, -t and -l don't apply to 'c IN OUT'" in proc.stderr


def test_legacy_files_are_read_and_named(tmp_path):
    legacy_file = tmp_path / "old.bin"
    legacy_file.write_bytes(legacy_writer.write(DATA[:300_000], block_size=100_000))
    proc = run("-v", "d", "old.bin", "new.txt", cwd=tmp_path)
    assert proc.returncode == 0
    assert (tmp_path / "new.txt").read_bytes() == DATA[:300_000]
    [note] = errors(proc)
    assert note.startswith("old.bin: ") and note.endswith(f"-- wrote new.txt ({LEGACY_NOTE})")
    (tmp_path / "old.bpez").write_bytes(legacy_file.read_bytes())
    proc = run("-t", "-v", "old.bpez", cwd=tmp_path)
    assert errors(proc) == [f"old.bpez: OK ({LEGACY_NOTE})"]
    proc = run("-l", "old.bpez", cwd=tmp_path)  # legacy records only tell their size once decoded
    assert proc.stdout.decode().splitlines()[1].split()[1:] == [
        "300000",
        proc.stdout.split()[-2].decode(),
        "old",
    ]
    proc = run("-d", "old.bpez", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "old").read_bytes() == DATA[:300_000]
    proc = run("-d", "-v", cwd=tmp_path, stdin=bpez.compress(b"new"))
    assert (proc.stdout, errors(proc)) == (b"new", ["stdin: OK"])  # no legacy note for the framed format


def test_old_block_size_option_still_works_with_a_warning(sample, tmp_path):
    proc = run("-b", "64k", "-c", "data.txt", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout[6] == 16
    assert errors(proc) == [
        "bpez: warning: -b is deprecated, use -B/--block-size (the old spelling goes in the next release)"
    ]


def test_help_explains_both_forms(tmp_path):
    proc = run("--help", cwd=tmp_path)
    text = proc.stdout.decode()
    assert proc.returncode == 0
    assert "bpez [OPTIONS] {c,d} IN OUT" in text and "-B SIZE" in text and "write ./c" in text
    assert "-b SIZE" not in text  # the old spelling is hidden
