"""Atomic output: all or nothing, permissions kept, no temp files left behind."""

import errno
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.common import OutputError, atomic_write, atomic_write_bytes


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writes_new_file(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"hello")
    assert target.read_bytes() == b"hello"
    assert _names(tmp_path) == ["a.bin"]


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=5000))
def test_round_trips_any_bytes(tmp_path_factory, data):
    target = tmp_path_factory.mktemp("w") / "x"
    atomic_write_bytes(target, data)
    assert target.read_bytes() == data


def test_failure_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"new data half way")
        raise RuntimeError("encoder failed")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["a.bin"]


def test_keyboard_interrupt_cleans_up(tmp_path):
    target = tmp_path / "a.bin"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:
        fh.write(b"partial")
        raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_input_is_never_touched_when_output_fails(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"precious input")
    before = src.stat()
    with pytest.raises(ValueError), atomic_write(tmp_path / "in.txt.gz") as fh:
        fh.write(src.read_bytes()[:3])
        raise ValueError("bad")
    assert src.read_bytes() == b"precious input"
    assert src.stat().st_mtime_ns == before.st_mtime_ns
    assert _names(tmp_path) == ["in.txt"]


def test_no_overwrite_refuses_existing(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists"):
        atomic_write_bytes(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old"


def test_no_overwrite_detects_a_file_created_meanwhile(tmp_path):
    target = tmp_path / "a.bin"
    with pytest.raises(OutputError, match="already exists"), atomic_write(target, overwrite=False) as fh:
        fh.write(b"mine")
        target.write_bytes(b"someone else's")
    assert target.read_bytes() == b"someone else's"
    assert _names(tmp_path) == ["a.bin"]


def test_keeps_permissions_of_replaced_file(tmp_path):
    target = tmp_path / "script.sh"
    target.write_bytes(b"old")
    target.chmod(0o751)
    atomic_write_bytes(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o751


def test_new_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "n", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "n").stat().st_mode) == 0o644


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(OutputError, match="cannot create a file there"):
        atomic_write_bytes(tmp_path / "no" / "such" / "dir" / "f", b"x")


def test_directory_target_is_refused(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"x")


def test_a_full_disk_names_the_output(tmp_path):
    target = tmp_path / "out.bin"
    full = pytest.raises(OutputError, match=r"out\.bin: No space left on device")
    with full, atomic_write(target) as fh:
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises on a full disk
    assert list(tmp_path.iterdir()) == []  # and nothing half-written is left
