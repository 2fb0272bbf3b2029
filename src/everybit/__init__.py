"""everybit: data compression and language-modelling tools in one package.

Each tool lives in its own subpackage (``everybit.ulz``, ``everybit.bpez``, ...); importing
``everybit`` itself loads none of them, so ``import everybit`` stays cheap and torch-free.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("everybit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
