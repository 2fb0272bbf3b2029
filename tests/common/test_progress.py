"""Progress bars appear only on a terminal, never with quiet, and never change the work."""

import io
import sys

import pytest

from everybit.common import progress as prog


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def tty(monkeypatch):
    """A fake terminal on stderr, installed lazily: pytest's capture resets sys.stderr after fixtures run."""
    monkeypatch.delenv("EVERYBIT_NO_PROGRESS", raising=False)
    prog.set_quiet(False)  # in-process CLI tests may have left it on
    fake = _Tty()

    def install():
        monkeypatch.setattr(sys, "stderr", fake)
        return fake

    yield install
    prog.set_quiet(False)


def test_enabled_on_tty(tty):
    tty = tty()
    assert prog.enabled()
    assert not prog.enabled(quiet=True)


def test_quiet_switch(tty):
    tty = tty()
    prog.set_quiet(True)
    assert not prog.enabled()
    assert prog.enabled(quiet=False)  # an explicit argument wins


def test_env_disables(tty, monkeypatch):
    tty = tty()
    monkeypatch.setenv("EVERYBIT_NO_PROGRESS", "1")
    assert not prog.enabled()


def test_not_a_tty(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not prog.enabled()


def test_short_work_draws_nothing(tty):
    tty = tty()
    with prog.progress_bar(100, "x") as bar:
        bar.update(100)
    assert tty.getvalue() == ""  # finished before the 2 s delay


def test_long_work_draws_a_bar(tty, monkeypatch):
    tty = tty()
    monkeypatch.setattr(prog, "DELAY_S", 0.0)
    with prog.progress_bar(1024 * 1024, "compress") as bar:
        bar.update(512 * 1024)
    assert "compress" in tty.getvalue()
    assert "1.00M" in tty.getvalue()  # bytes are scaled (1 MiB total)


def test_track_yields_everything(tty, monkeypatch):
    tty = tty()
    monkeypatch.setattr(prog, "DELAY_S", 0.0)
    assert list(prog.track(range(5), "items")) == [0, 1, 2, 3, 4]
    assert "items" in tty.getvalue()
    prog.set_quiet(True)
    before = tty.getvalue()
    assert list(prog.track(iter([1, 2]), "silent")) == [1, 2]
    assert tty.getvalue() == before
