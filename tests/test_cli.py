"""The umbrella CLI: help, version, error lines, exit codes, signals."""

import signal
import subprocess
import sys
import time

import pytest

from everybit import __version__
from everybit.cli import main
from everybit.common import CorruptDataError, EverybitError, MissingDependencyError
from everybit.common.cli import describe
from everybit.registry import TOOLS
from tests.helpers import everybit_proc, run_everybit


def test_help_lists_commands_and_every_tool(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    for tool in TOOLS:
        assert tool.name in out  # built ones with their summary, the rest under "not built yet"
        if tool.is_built():
            assert tool.summary in out


def test_help_lists_a_built_tool_with_its_summary(fake_tool, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("fake "))
    assert line.split(None, 1)[1] == "a stand-in tool for tests"
    with pytest.raises(SystemExit) as exc:
        main(["fake", "--help"])
    assert exc.value.code == 0
    assert "a stand-in tool for tests" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"everybit {__version__}"


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        ([], 2, "usage: everybit"),
        (["nosuchtool"], 2, "everybit: error: unknown command 'nosuchtool'"),
        (["fake", "ok", "--bogus"], 2, "everybit: error: unrecognized arguments: --bogus"),
        (["fake", "usage"], 2, "everybit: error: --level must be 1..9"),
        (["fake", "input"], 1, "everybit: error: data.bin: bad magic at offset 0"),
        (["fake", "oserror"], 1, "everybit: error: /nonexistent/dir/file.bin: No such file or directory"),
        (["fake", "crash"], 1, "everybit: error: internal error: RuntimeError: boom second line"),
        (["fake", "torch"], 1, "everybit: error: this needs the 'torch' package: pip install 'everybit[ml]'"),
    ],
)
def test_errors_are_one_line_with_exit_code(fake_tool, capsys, argv, code, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == code
    err = capsys.readouterr().err
    assert needle in err
    if argv:
        assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_traceback(fake_tool, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--debug", "fake", "crash"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("(rerun with --debug for the traceback)")


def test_success_exit_zero(fake_tool, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fake", "ok"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == "ok\n"


def test_describe_maps_types():
    assert describe(CorruptDataError("x.ulz: block 3: checksum mismatch")) == (
        "x.ulz: block 3: checksum mismatch",
        1,
    )
    assert describe(MissingDependencyError("needs torch"))[1] == 1
    assert describe(EverybitError("a\nb")) == ("a b", 1)
    assert describe(MemoryError()) == ("out of memory", 1)
    assert describe(PermissionError(13, "Permission denied", "/root/x")) == ("/root/x: Permission denied", 1)


def test_entry_point_installed():
    res = subprocess.run([sys.executable, "-m", "everybit", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == f"everybit {__version__}"


def test_help_does_not_import_torch():
    code = "import sys; from everybit.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
    code += "assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _wait_for_tmp(folder, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tmps = [p for p in folder.iterdir() if ".everybit-tmp-" in p.name]
        if tmps and tmps[0].stat().st_size > 64 * 1024:
            return tmps[0]
        time.sleep(0.02)
    raise AssertionError("the writer never started")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_old_file_and_no_temp(tmp_path, sig, code):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous contents")
    proc = everybit_proc("fake", "slow-write", str(target))
    _wait_for_tmp(tmp_path)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert "Traceback" not in err
    if sig == signal.SIGINT:
        assert err == "everybit: interrupted\n"
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_kill_half_way_leaves_old_file_intact(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous contents")
    proc = everybit_proc("fake", "slow-write", str(target))
    tmp = _wait_for_tmp(tmp_path)
    proc.kill()  # SIGKILL: no cleanup can run
    proc.communicate(timeout=30)
    assert target.read_bytes() == b"previous contents"
    assert tmp.exists()  # the only trace is the recognisable temp file, never a damaged target


def test_broken_pipe_exits_quietly():
    res = run_everybit("--help")
    assert res.returncode == 0
    # `everybit --help | head -c1`: the reader closes early; no traceback either way
    shell = subprocess.run(
        f"{sys.executable} -m everybit --help | head -c 1", shell=True, capture_output=True, text=True
    )
    assert "Traceback" not in shell.stderr
