import pydoc_data.topics

import pytest

from everybit import registry
from everybit.common.samples import stdlib_sample
from tests.helpers import FAKE


@pytest.fixture
def fake_tool():
    """Registers the stand-in tool of tests/fakepkg for in-process CLI and demo tests."""
    registry.TOOLS.append(FAKE)
    yield FAKE
    registry.TOOLS.remove(FAKE)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """~200 KB of real text: Python's help topics (English) and stdlib sources (code)."""
    root = tmp_path_factory.mktemp("corpus")
    en = root / "en.txt"
    en.write_text("".join(pydoc_data.topics.topics.values())[:150_000])
    code = root / "code.py"
    code.write_bytes(stdlib_sample(60_000).rsplit(b"\n", 1)[0] + b"\n")
    return [en, code]
