"""everybit: data compression and language-modelling tools in one package.

Each tool lives in its own subpackage (``everybit.ulz``, ``everybit.bpez``, ...); importing
``everybit`` itself loads none of them, so ``import everybit`` stays cheap and torch-free.
"""

__version__ = "0.1.0"  # the package version (pyproject.toml reads it from here)

__all__ = ["__version__"]
