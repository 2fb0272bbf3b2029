"""Every C source and shared header compiles without a single warning under gcc and clang.

setup.py builds with ``-Wall -Wextra`` but not ``-Werror`` (an end user's compiler may know warnings ours
don't); this test is where ``-Werror`` holds, for both compilers. Each file is compiled for real (``-c``,
at ``-O2``), not only parsed: gcc's flow-based warnings (``-Wmaybe-uninitialized``,
``-Wstringop-overflow``, ...) come from the optimizer. A compiler that is not installed skips its cases.
"""

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "everybit"
COMMON = PKG / "common"
SOURCES = sorted(PKG.glob("*/_*.c"))
HEADERS = sorted(COMMON.glob("*.h"))
COMPILERS = ("gcc", "clang")
FLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]


def _compile(cc: str, source: Path, tmp_path: Path, *, header: bool = False) -> None:
    compiler = shutil.which(cc)
    if compiler is None:
        pytest.skip(f"{cc} is not installed")
    include = sysconfig.get_paths()["include"]
    if header:  # a header compiles on its own: it includes what it uses
        unit = tmp_path / f"{source.stem}_alone.c"
        unit.write_text(f'#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n#include "{source.name}"\n')
        source = unit
    cmd = [compiler, *FLAGS, f"-I{include}", f"-I{COMMON}", "-c", str(source), "-o", str(tmp_path / "out.o")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr}"
    assert not done.stderr.strip(), done.stderr


def test_sources_found():
    assert len(SOURCES) >= 6 and len(HEADERS) >= 4


@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_source_compiles_without_warnings(cc, source, tmp_path):
    _compile(cc, source, tmp_path)


@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_header_compiles_alone_without_warnings(cc, header, tmp_path):
    _compile(cc, header, tmp_path, header=True)
