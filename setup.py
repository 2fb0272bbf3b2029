"""Build the C extensions: every ``src/everybit/<tool>/_<name>.c`` becomes ``everybit.<tool>._<name>``.

A tool adds its codec by dropping the C file next to its Python wrapper; nothing here changes.
"""

from pathlib import Path

from setuptools import Extension, setup

SRC = Path(__file__).parent / "src"


def _extensions() -> list[Extension]:
    exts = []
    for c_file in sorted(SRC.glob("everybit/*/_*.c")):
        rel = c_file.relative_to(SRC).with_suffix("")
        exts.append(
            Extension(
                ".".join(rel.parts),
                sources=[str(c_file.relative_to(Path(__file__).parent))],
                include_dirs=[str(SRC / "everybit" / "common")],  # _glue.h
                extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
            )
        )
    return exts


setup(ext_modules=_extensions())
