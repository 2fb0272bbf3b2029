"""Helpers for tests that run the real ``everybit`` entry point in a child process."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from everybit import registry

ROOT = Path(__file__).resolve().parents[1]
FAKE = registry.Tool("fake", "a stand-in tool for tests", "tests.fakepkg.cli")

# Registers the fake tool, then runs the real entry point: what a user's shell would see.
RUNNER = (
    "import sys; from everybit import registry; "
    "registry.TOOLS.append(registry.Tool('fake', 'a stand-in tool for tests', 'tests.fakepkg.cli')); "
    "from everybit.cli import main; main()"
)


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and children inherit that: Python then never
    # installs its KeyboardInterrupt handler. Ctrl-C tests need the disposition a terminal user has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def everybit_proc(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    """Start ``everybit ARGS`` (with the fake tool registered) in a child process, SIGINT as on a terminal."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
        **kw,
    )


def run_everybit(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = everybit_proc(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
