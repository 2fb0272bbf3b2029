"""Build the C extensions: every ``src/everybit/<tool>/_<name>.c`` becomes ``everybit.<tool>._<name>``.

A tool adds its codec by dropping the C file next to its Python wrapper; nothing here changes. Shared C
headers live in ``src/everybit/common/`` (``_glue.h``, ``_portable.h``, ``_varint.h``, ``_rangecoder.h``).
"""

from pathlib import Path

from setuptools import Extension, setup

SRC = Path(__file__).parent / "src"
COMMON = SRC / "everybit" / "common"

# Warnings are on for every build, but not errors: end users build with compilers and Python headers we
# never tried, where a new warning must not stop an install. tests/test_c_warnings.py compiles every C file
# with gcc and clang and -Werror, so no warning gets into the tree.
CFLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra"]


def _extensions() -> list[Extension]:
    root = Path(__file__).parent
    headers = [str(h.relative_to(root)) for h in sorted(COMMON.glob("*.h"))]
    exts = []
    for c_file in sorted(SRC.glob("everybit/*/_*.c")):
        rel = c_file.relative_to(SRC).with_suffix("")
        exts.append(
            Extension(
                ".".join(rel.parts),
                sources=[str(c_file.relative_to(root))],
                include_dirs=[str(COMMON)],
                depends=headers,  # a changed header rebuilds every extension
                extra_compile_args=CFLAGS,
            )
        )
    return exts


setup(ext_modules=_extensions())
