"""bench.harness: timing, number formatting, result files and the README results block."""

import hashlib
import json

import pytest

from bench import harness
from bench.harness import END_MARK, START_MARK, Report, fmt, time_call, update_readme


class FakeClock:
    """perf_counter stand-in: each call of `work` advances time by the next scripted duration."""

    def __init__(self, durations):
        self.now = 100.0
        self.durations = list(durations)
        self.calls = 0

    def perf_counter(self):
        return self.now

    def work(self):
        self.calls += 1
        self.now += self.durations.pop(0)
        return self.calls


def test_time_call_skips_warmup_and_takes_median(monkeypatch):
    clock = FakeClock([50.0, 40.0, 3.0, 1.0, 2.0])  # two slow warm-ups must not count
    monkeypatch.setattr(harness, "perf_counter", clock.perf_counter)
    timing = time_call(clock.work, repeat=3, warmup=2)
    assert clock.calls == 5
    assert timing.runs == [3.0, 1.0, 2.0]
    assert timing.median == 2.0
    assert timing.min == 1.0
    assert timing.result == 5  # the last timed call's return value


def test_time_call_real_clock_and_bad_arguments():
    timing = time_call(lambda: sum(range(1000)))
    assert len(timing.runs) == 3 and all(r > 0 for r in timing.runs)
    assert timing.min <= timing.median
    with pytest.raises(ValueError):
        time_call(lambda: None, repeat=0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1234567, "1,234,567"),
        (3.14159, "3.14"),
        (12345.6, "12,300"),
        (0.000123456, "0.000123"),
        (2.0, "2"),
        (True, "yes"),
        (None, ""),
        ("zlib -9", "zlib -9"),
    ],
)
def test_fmt(value, text):
    assert fmt(value) == text


def test_machine_info_has_the_facts():
    info = harness.machine_info()
    for key in ("cpu", "logical_cores", "memory_bytes", "os", "kernel", "python", "packages", "date"):
        assert key in info
    assert info["logical_cores"] >= 1
    assert "numpy" in info["packages"]


def make_report(tmp_path):
    source = tmp_path / "input.txt"
    source.write_bytes(b"hello world\n" * 100)
    report = Report("demo", "Demo benchmark")
    report.add_data("input", source, "made by the test", {"pkg": "1.0"})
    report.add_table("sizes", ["codec", "bytes", "ratio"], [["zlib -9", 123456, 9.7312]], note="a note")
    report.add_headline("size", 1000, "zlib -9", 2000, ratio=0.5, target="< 0.8", met=True, unit="B")
    return report, source


def test_report_write_md_and_json(tmp_path):
    report, source = make_report(tmp_path)
    readme = tmp_path / "README.md"
    md_path, json_path = report.write(tmp_path / "results", readme)
    assert (md_path.name, json_path.name) == ("demo.md", "demo.json")
    md = md_path.read_text()
    assert md.startswith("# Demo benchmark\n")
    assert "| zlib -9 | 123,456 | 9.73 |" in md
    assert "| size | 1,000 B | zlib -9 | 2,000 B | 0.5 | < 0.8 | yes |" in md
    assert "a note" in md and "## Machine" in md
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert sha in md
    doc = json.loads(json_path.read_text())
    assert set(doc) == {"tool", "title", "created", "machine", "data", "tables", "headline"}
    assert doc["data"][0] == {
        "label": "input",
        "name": "input.txt",
        "bytes": 1200,
        "sha256": sha,
        "source": "made by the test",
        "versions": {"pkg": "1.0"},
    }
    assert doc["tables"][0]["rows"] == [["zlib -9", 123456, 9.7312]]
    assert doc["headline"][0]["met"] is True and doc["headline"][0]["ratio"] == 0.5
    assert doc["machine"]["python"]


def test_add_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="2 cells, expected 3"):
        Report("t", "T").add_table("x", ["a", "b", "c"], [[1, 2]])


README_TEXT = f"# Project\n\nIntro *kept*.\n\n{START_MARK}\nold stale table\n{END_MARK}\n\n## After\ntail\n"


def test_update_readme_replaces_only_between_markers(tmp_path):
    report, _ = make_report(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    results = tmp_path / "results"
    report.write(results, readme)
    text = readme.read_text()
    head, rest = text.split(START_MARK)
    block, tail = rest.split(END_MARK)
    assert head == README_TEXT.split(START_MARK)[0]
    assert tail == README_TEXT.split(END_MARK)[1]
    assert "old stale table" not in block
    assert "| tool | metric | ours | anchor | anchor value | ratio | target | met |" in block
    assert "| demo | size | 1,000 B | zlib -9 | 2,000 B | 0.5 | < 0.8 | yes |" in block
    assert "`demo`" in block and "cores" in block  # the machine line
    update_readme(readme, results)
    assert readme.read_text() == text  # idempotent


def test_update_readme_without_markers_changes_nothing(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Project\nno markers here\n")
    update_readme(readme, tmp_path)
    assert readme.read_text() == "# Project\nno markers here\n"
    assert "warning" in capsys.readouterr().err
