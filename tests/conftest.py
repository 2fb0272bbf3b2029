import pytest

from everybit import registry
from tests.helpers import FAKE


@pytest.fixture
def fake_tool():
    """Registers the stand-in tool of tests/fakepkg for in-process CLI and demo tests."""
    registry.TOOLS.append(FAKE)
    yield FAKE
    registry.TOOLS.remove(FAKE)
