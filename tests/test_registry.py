import subprocess
import sys
from pathlib import Path

import everybit
from everybit.registry import TOOLS, find


def test_all_eight_tools_registered():
    names = [t.name for t in TOOLS]
    assert names == ["ulz", "bpez", "imli", "fontpack", "imgkan", "supertok", "tokenadapt", "probe"]
    assert all(t.module == f"everybit.{t.name}.cli" for t in TOOLS)


def test_find_and_built_state():
    assert find("ulz").name == "ulz"
    assert find("nope") is None
    src = Path(everybit.__file__).parent
    for tool in TOOLS:
        assert tool.is_built() == (src / tool.name / "cli.py").is_file()


def test_is_built_imports_nothing():
    code = "import sys; from everybit.registry import TOOLS; [t.is_built() for t in TOOLS]; "
    code += "print(sorted(m for m in sys.modules if m.startswith('everybit.') and m.count('.') == 1))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['everybit.registry']"
