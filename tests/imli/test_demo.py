"""The imli demo section: two versions, a verified rollback, sizes against zip and tar.gz."""

import time

from everybit.demo import DemoContext
from everybit.imli import demo


def test_demo_section(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "TREE_BYTES", 256 * 1024)
    start = time.perf_counter()
    section = demo.demo(DemoContext(scratch=tmp_path, out_dir=tmp_path / "report", quiet=True))
    assert time.perf_counter() - start < 15
    history, sizes = section.tables
    assert [row[0] for row in history.rows] == [1, 2]
    assert history.rows[1][2:4] == [6, 1]  # five edits and one new file; one deletion
    formats = {row[0]: row[1] for row in sizes.rows}
    assert set(formats) == {
        "imli -m 0",
        "imli -m 1",
        "imli -m 2",
        "imli -m 3",
        "zip (deflate -6)",
        "tar.gz (-6)",
    }
    assert formats["imli -m 3"] < formats["imli -m 1"] < formats["imli -m 0"]
    [chart] = section.charts
    imli_both, zip_both, tgz_both = chart.series[0].y
    assert imli_both < zip_both and imli_both < tgz_both  # deduplication and the small second version
    assert chart.save_png(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert [label for label, _ in section.headline] == ["two versions", "version 2 cost", "one snapshot -m 1"]


def test_versions_of_tree_differ_as_described():
    v1, v2 = demo.versions_of_tree()
    assert len(v2) == len(v1)  # one removed, one added
    changed = [n for n in v1 if n in v2 and v1[n] != v2[n]]
    assert len(changed) == 5 and all(b"# edited for version 2" in v2[n] for n in changed)
    assert any(n.startswith("copy/") for n in v1) and v1["notes/empty.txt"] == b""
