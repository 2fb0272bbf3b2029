"""docs/cli.md, the CLI charter, checked on the parsers of all eight tools: one spelling per concept."""

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from everybit import __version__
from everybit.common.cli import command_parser
from everybit.common.cliargs import deprecated_alias, parse_size, size_type
from everybit.registry import TOOLS

ROOT = Path(__file__).resolve().parents[1]
# Each short option means one thing in every tool, or it is not used.
SHORT = {
    "-c": "--stdout",
    "-t": "--test",
    "-T": "--threads",
    "-f": "--force",
    "-q": "--quiet",
    "-v": "--verbose",
    "-B": "--block-size",
    "-l": "--list",
    "-d": "--decompress",
    "-k": "--keep",
    "-r": "--recursive",
    "-S": "--suffix",
}


def _parsers(parser: argparse.ArgumentParser, name: str):
    """(name, parser) of a tool and of each of its verbs."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for verb, sub in action.choices.items():
                if id(sub) not in seen:  # aliases (imli's `a` for `add`) share one parser
                    seen.add(id(sub))
                    yield f"{name} {verb}", sub


def _visible(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.help != argparse.SUPPRESS and a.option_strings]


ALL = [
    (n, p)
    for tool in TOOLS
    for n, p in _parsers(command_parser(tool.name, tool.module, tool.summary), tool.name)
]
VERBS = [
    (n, p)
    for n, p in ALL
    if " " in n or not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
]


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[n for n, _ in ALL])
def test_short_options_mean_one_thing(name, parser):
    for action in _visible(parser):
        shorts = [o for o in action.option_strings if len(o) == 2 and o[1].isalpha()]
        longs = [o for o in action.option_strings if o.startswith("--")]
        for short in shorts:
            if short == "-o":
                assert longs and longs[0] in ("--output", "--out"), f"{name}: -o is {longs}"
            elif short in SHORT:
                assert SHORT[short] in longs, f"{name}: {short} is {longs}, the charter says {SHORT[short]}"


@pytest.mark.parametrize(("name", "parser"), VERBS, ids=[n for n, _ in VERBS])
def test_every_verb_has_quiet_and_verbose(name, parser):
    options = {o for a in parser._actions for o in a.option_strings}
    assert {"-q", "--quiet", "-v", "--verbose"} <= options, name


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[n for n, _ in ALL])
def test_threads_json_and_outputs_are_spelled_one_way(name, parser):
    for action in _visible(parser):
        opts = action.option_strings
        if "--threads" in opts:
            assert "-T" in opts and action.default == 0, f"{name}: threads must be -T/--threads, default 0"
        if "--json" in opts:
            assert action.nargs == 0, f"{name}: --json prints to stdout and takes no file (use --json-out)"
        assert not {"--to", "--outdir", "--output-dir"} & set(opts), f"{name}: {opts} (charter: -o/--out)"


@pytest.mark.parametrize("tool", TOOLS, ids=[t.name for t in TOOLS])
def test_every_tool_answers_version(tool, capsys):
    parser = command_parser(tool.name, tool.module, tool.summary)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"{tool.name} (everybit {__version__})"


def test_a_console_script_per_tool():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["everybit"] == "everybit.cli:main"
    for tool in TOOLS:
        assert scripts[tool.name] == f"everybit.{tool.name}.cli:main"


def test_a_console_script_runs_as_the_umbrella_command():
    code = "import sys; sys.argv = ['ulz', '--version']; from everybit.ulz.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"ulz (everybit {__version__})"


def test_no_tool_imports_the_umbrella():
    for path in (ROOT / "src" / "everybit").glob("*/*.py"):
        text = path.read_text()
        assert "from everybit.cli import" not in text and "import everybit.cli" not in text, path


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("65536", 65536),
        ("64k", 65536),
        ("64K", 65536),
        ("64KiB", 65536),
        ("64kB", 65536),
        ("1M", 1 << 20),
        ("1.5M", 3 << 19),
        ("512M", 512 << 20),
        ("2G", 2 << 30),
        (" 3 g ", 3 << 30),
    ],
)
def test_sizes_take_binary_suffixes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "k", "1x", "-5", "1.2.3M", "10 MBs"])
def test_a_bad_size_is_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)
    with pytest.raises(argparse.ArgumentTypeError):
        size_type()(text)


def test_size_bounds_and_powers_of_two():
    block = size_type(64 << 10, 64 << 20, power_of_two=True)
    assert block("1M") == 1 << 20
    for bad in ("32k", "128M", "96k"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"power of two in 64k\.\.64M"):
            block(bad)


def test_a_deprecated_alias_works_and_warns(capsys):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("-o", "--out", dest="out")
    deprecated_alias(parser, "--to", dest="out", new="-o/--out")
    parser.add_argument("-k", "--keep", action="store_true")
    deprecated_alias(parser, "--retain", dest="keep", new="-k/--keep", const=True)
    args = parser.parse_args(["--to", "DIR", "--retain"])
    assert (args.out, args.keep) == ("DIR", True)
    err = capsys.readouterr().err
    assert "tool: warning: --to is deprecated, use -o/--out" in err
    assert "--retain is deprecated" in err
    assert "--to" not in parser.format_help()
