"""A real ``imli add`` killed (SIGKILL) part way: the archive still reads at the previous version, with
imli and with zpaq, and the next add completes."""

import json
import os
import time

import numpy as np
import pytest

from everybit.imli.archive import Archive
from tests.imli.util import ZPAQ, imli_proc, make_tree, ok, snapshot, zpaq, zpaq_versions

BIG_FILES, BIG_FILE_BYTES = 10, 2 << 20  # 20 MiB: two d blocks at method 1, a few seconds to write


def big_files(root):
    rng = np.random.default_rng(5)
    for i in range(BIG_FILES):
        data = rng.integers(0, 256, size=BIG_FILE_BYTES, dtype=np.uint8)
        data[::2] = rng.integers(97, 123, size=BIG_FILE_BYTES // 2, dtype=np.uint8)  # half compressible
        (root / "big").mkdir(exist_ok=True)
        (root / "big" / f"part{i:02d}.bin").write_bytes(data.tobytes())


def kill_when(tmp_path, archive, ready, limit_s=60.0):
    """Start ``imli add``, SIGKILL it once ``ready(seconds, archive_size)``; True if it was still running."""
    proc = imli_proc("add", archive.name, "t", "-T", "1", cwd=tmp_path)
    start = time.monotonic()
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            if ready(elapsed, archive.stat().st_size) or elapsed > limit_s:
                proc.kill()
                proc.wait()
                return True
            time.sleep(0.002)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def reads_as(tmp_path, name, version, tree_state, out):
    """Both tools see ``version`` versions and extract the tree of that version."""
    res = ok("l", name, "--json", cwd=tmp_path)
    listing = json.loads(res.out)
    assert (listing["version"], listing["versions"]) == (version, version)
    ok("x", name, "-o", f"{out}-imli", cwd=tmp_path)
    assert snapshot(tmp_path / f"{out}-imli" / "t") == tree_state
    if ZPAQ:
        assert zpaq_versions(name, cwd=tmp_path) == version
        zpaq("x", name, "-to", f"{out}-zpaq", cwd=tmp_path)
        assert snapshot(tmp_path / f"{out}-zpaq" / "t") == tree_state
    return res.errors


@pytest.mark.slow
def test_killed_add_keeps_the_previous_version(tmp_path):
    make_tree(tmp_path / "t")
    archive = tmp_path / "k.zpaq"
    ok("a", "k.zpaq", "t", cwd=tmp_path)
    v1 = snapshot(tmp_path / "t")
    size1 = archive.stat().st_size
    big_files(tmp_path / "t")
    v2 = snapshot(tmp_path / "t")

    points = {
        "early (0.3 s)": lambda s, n: s >= 0.3,
        "c block written": lambda s, n: n > size1,
        "a d block written": lambda s, n: n > size1 + (1 << 20),
    }
    for k, (what, ready) in enumerate(points.items()):
        assert kill_when(tmp_path, archive, ready), f"add finished before the kill point: {what}"
        state = Archive(archive).tail_state()
        assert state == "unfinished" or (k == 0 and state is None), what
        warnings = reads_as(tmp_path, "k.zpaq", 1, v1, f"after-kill{k}")
        if state == "unfinished":
            assert warnings == [
                f"imli: warning: k.zpaq: an interrupted update after offset {size1} is ignored "
                "(the next add removes it)"
            ]
        assert ok("t", "k.zpaq", cwd=tmp_path).lines == ["k.zpaq: 1 version, 8 files tested: all OK"]
        if ZPAQ:
            zpaq("x", "k.zpaq", "-test", cwd=tmp_path)

    done = ok("a", "k.zpaq", "t", cwd=tmp_path)
    assert done.lines[-1].startswith("k.zpaq: version 2: ")
    assert Archive(archive).tail_state() is None  # the unfinished tail was cut off, nothing left over
    reads_as(tmp_path, "k.zpaq", 2, v2, "final")
    assert ok("t", "k.zpaq", cwd=tmp_path).lines == ["k.zpaq: 2 versions, 18 files tested: all OK"]
    ok("x", "k.zpaq", "--until", "1", "-o", "rollback", cwd=tmp_path)
    assert snapshot(tmp_path / "rollback" / "t") == v1
    assert os.path.getsize(archive) > size1 + BIG_FILES * BIG_FILE_BYTES // 2
