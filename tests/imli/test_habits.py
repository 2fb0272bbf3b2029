"""zpaq and borg habits: zpaq's option spellings, ``check``, ``diff`` of two versions, borg's ``prune``."""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.imli import archive as archive_module
from everybit.imli.cli import zpaq_spellings
from everybit.imli.history import select
from tests.imli.util import (
    BASE_TIME,
    imli,
    make_tree,
    needs_zpaq,
    ok,
    settle,
    snapshot,
    write,
    zpaq,
    zpaq_list,
    zpaq_versions,
)


def add_at(monkeypatch, cwd, date: int, *args: str):
    """``imli add ARGS`` writing a version dated ``date`` (YYYYMMDDHHMMSS, UTC) instead of now."""
    monkeypatch.setattr(archive_module, "_next_date", lambda journal: date)
    try:
        return ok("add", *args, cwd=cwd)
    finally:
        monkeypatch.undo()


def listing(archive: str, *opts: str, cwd) -> dict:
    """path -> (size, file date, mode) of ``imli list --json``: a version's file state."""
    doc = json.loads(ok("list", archive, "--json", *opts, cwd=cwd).out)
    return {f["path"]: (f["size"], f["date"], f["mode"]) for f in doc["files"]}


def version_dates(archive: str, cwd) -> list[str]:
    return [v["date"] for v in json.loads(ok("versions", archive, "--json", cwd=cwd).out)["versions"]]


# ------------------------------------------------------------------------------------------ zpaq spellings


def test_spellings_are_rewritten_after_the_verb_only():
    assert zpaq_spellings(["a.zpaq", "-to", "out", "-until", "2", "-threads", "2", "-force"]) == [
        "a.zpaq",
        "-o=out",
        "--until=2",
        "--threads=2",
        "--force",
    ]
    assert zpaq_spellings(["a.zpaq", "-method", "3", "-t2", "-m3", "-t", "4"]) == [
        "a.zpaq",
        "--method=3",
        "--threads=2",
        "-m3",
        "--threads=4",
    ]
    # Values are taken as they are, whatever they look like; a time word joins -until's date.
    assert zpaq_spellings(["-key", "-to", "-until", "2026-12-03", "09:20:05", "-to"]) == [
        "--key=-to",
        "--until=2026-12-03 09:20:05",
        "-o",
    ]
    assert zpaq_spellings(["-until", "-2", "p"]) == ["--until=-2", "p"]
    assert zpaq_spellings(["a.zpaq", "-all", "4", "p"]) == ["a.zpaq", "--all", "p"]  # zpaq's N: dropped
    assert zpaq_spellings(["a.zpaq", "--", "-to", "-all"]) == ["a.zpaq", "--", "-to", "-all"]


@pytest.fixture
def three(tmp_path):
    """A 3-version archive of a tree (imli's own dates); returns the folder."""
    tree = make_tree(tmp_path / "tree")
    ok("a", "a.zpaq", "tree", cwd=tmp_path)
    write(tree, "new.txt", b"new\n")
    settle(tree)
    ok("a", "a.zpaq", "tree", cwd=tmp_path)
    (tree / "bin/run.sh").unlink()
    settle(tree)
    ok("a", "a.zpaq", "tree", cwd=tmp_path)
    return tmp_path


@needs_zpaq
def test_zpaq_extract_command_line(three):
    line = ["x", "a.zpaq", "-to", "{}", "-until", "2", "-threads", "2", "-force"]
    ok(*(w.format("mine") for w in line), cwd=three)
    zpaq(*(w.format("theirs") for w in line), cwd=three)
    assert "bin/run.sh" in snapshot(three / "mine/tree")  # version 2: not yet deleted
    assert "new.txt" in snapshot(three / "mine/tree")
    assert snapshot(three / "mine") == snapshot(three / "theirs")
    ok(*(w.format("mine") for w in line), cwd=three)  # -force: over the files already there


@needs_zpaq
def test_zpaq_add_command_line(tmp_path):
    make_tree(tmp_path / "tree")
    res = ok("a", "mine.zpaq", "tree", "-method", "3", "-threads", "2", cwd=tmp_path)
    assert res.lines[-1].startswith("mine.zpaq: version 1: ")
    zpaq("a", "theirs.zpaq", "tree", "-method", "3", "-threads", "2", cwd=tmp_path)
    # imli writes zpaq's blocks exactly, so only the right method gives zpaq's size.
    assert os.path.getsize(tmp_path / "mine.zpaq") == os.path.getsize(tmp_path / "theirs.zpaq")
    assert zpaq_list("mine.zpaq", cwd=tmp_path) == zpaq_list("theirs.zpaq", cwd=tmp_path)
    ok("a", "m3.zpaq", "tree", "-m3", "-t2", cwd=tmp_path)
    assert os.path.getsize(tmp_path / "m3.zpaq") == os.path.getsize(tmp_path / "theirs.zpaq")


@needs_zpaq
def test_zpaq_key_command_line(tmp_path):
    make_tree(tmp_path / "tree")
    ok("a", "k.zpaq", "tree", "-key", "pass word", cwd=tmp_path)
    assert "tree/bin/run.sh" in zpaq_list("k.zpaq", "-key", "pass word", cwd=tmp_path)
    assert "tree/bin/run.sh" in ok("l", "k.zpaq", "-key", "pass word", cwd=tmp_path).out
    assert imli("l", "k.zpaq", "-key", "wrong", cwd=tmp_path).code == 1


def test_zpaq_list_command_line(three):
    assert ok("l", "a.zpaq", "-all", cwd=three) == ok("list", "a.zpaq", "--all", cwd=three)
    assert ok("l", "a.zpaq", "-until", "2", cwd=three) == ok("l", "a.zpaq", "--until", "2", cwd=three)
    assert ok("l", "a.zpaq", "-until", "-1", cwd=three) == ok("l", "a.zpaq", "--until", "2", cwd=three)
    assert ok("l", "a.zpaq", "-until", "-5", cwd=three).lines[-1].endswith("(version 0 of 3)")


def test_check_is_test(three):
    res = ok("check", "a.zpaq", cwd=three)
    assert res == ok("test", "a.zpaq", cwd=three)
    assert res.lines == ["a.zpaq: 3 versions, 9 files tested: all OK"]


def test_until_takes_numbers_and_dates_for_every_verb(tmp_path, monkeypatch):
    tree = make_tree(tmp_path / "tree")
    add_at(monkeypatch, tmp_path, 20260110120000, "a.zpaq", "tree")
    write(tree, "two.txt", b"two\n")
    settle(tree)
    add_at(monkeypatch, tmp_path, 20260215120000, "a.zpaq", "tree")
    write(tree, "three.txt", b"three\n")
    settle(tree)
    add_at(monkeypatch, tmp_path, 20260320120000, "a.zpaq", "tree")

    # Each spelling of version 2: zpaq pads a date without its time to the end of that day, hour, minute.
    for until in ("2", "-1", "20260215", "20260301", "2026021512", "2026-02-15 12:00", "2026-02-15 12:00:00"):
        assert ok("l", "a.zpaq", "--until", until, cwd=tmp_path).lines[-1].endswith("(version 2 of 3)"), until
    assert (
        ok("l", "a.zpaq", "-until", "2026-02-15", "11:59:59", cwd=tmp_path)
        .lines[-1]
        .endswith("(version 1 of 3)")
    )
    assert ok("l", "a.zpaq", "--until", "20260109", cwd=tmp_path).lines[-1].endswith("(version 0 of 3)")

    ok("x", "a.zpaq", "--until", "20260301", "-o", "x", cwd=tmp_path)
    assert {"two.txt"} <= set(snapshot(tmp_path / "x/tree")) and "three.txt" not in snapshot(
        tmp_path / "x/tree"
    )
    ok("purge", "a.zpaq", "--until", "2026-02-15", "-o", "p.zpaq", cwd=tmp_path)
    assert listing("p.zpaq", cwd=tmp_path) == listing("a.zpaq", "--until", "2", cwd=tmp_path)
    assert ok("diff", "a.zpaq", "20260110", "2026-03-01", cwd=tmp_path).lines == [
        "+ tree/two.txt",
        "1 added, 0 removed, 0 changed between version 1 and version 2",
    ]


# ---------------------------------------------------------------------------------------------- diff


@pytest.fixture
def history(tmp_path, monkeypatch):
    """By hand: version 1 of four files; version 2 changes a's content and date, b's mode and c's date
    and adds e; version 3 deletes b and puts c's date back."""
    root = tmp_path / "t"
    for name in ("a", "b", "c"):
        write(root, f"{name}.txt", f"{name} one\n".encode())
    write(root, "sub/d.txt", b"d one\n")
    settle(root)
    add_at(monkeypatch, tmp_path, 20260110120000, "h.zpaq", "t")
    write(root, "a.txt", b"a two, longer\n", when=BASE_TIME + 60)
    (root / "b.txt").chmod(0o600)
    os.utime(root / "c.txt", (BASE_TIME + 120, BASE_TIME + 120))
    write(root, "e.txt", b"e\n")
    settle(root)
    add_at(monkeypatch, tmp_path, 20260215120000, "h.zpaq", "t")
    (root / "b.txt").unlink()
    os.utime(root / "c.txt", (BASE_TIME, BASE_TIME))
    settle(root)
    add_at(monkeypatch, tmp_path, 20260320120000, "h.zpaq", "t")
    return tmp_path


def test_diff_lines(history):
    assert ok("diff", "h.zpaq", "1", "2", cwd=history).lines == [
        "~ t/a.txt (content, date)",
        "~ t/b.txt (mode)",
        "~ t/c.txt (date)",
        "+ t/e.txt",
        "1 added, 0 removed, 3 changed between version 1 and version 2",
    ]
    assert ok("diff", "h.zpaq", "2", "3", cwd=history).lines == [
        "- t/b.txt",
        "~ t/c.txt (date)",
        "0 added, 1 removed, 1 changed between version 2 and version 3",
    ]
    assert ok("diff", "h.zpaq", "1", cwd=history).lines == [  # V2: the latest
        "~ t/a.txt (content, date)",
        "- t/b.txt",
        "+ t/e.txt",
        "1 added, 1 removed, 1 changed between version 1 and version 3",
    ]
    assert ok("diff", "h.zpaq", "3", "1", cwd=history).lines[:3] == [
        "~ t/a.txt (content, date)",
        "+ t/b.txt",
        "- t/e.txt",
    ]
    assert ok("diff", "h.zpaq", "0", "1", cwd=history).lines[-1] == (
        "6 added, 0 removed, 0 changed between version 0 and version 1"  # 4 files, 2 folders
    )
    assert ok("diff", "h.zpaq", "2", "2", cwd=history).lines == [
        "no differences between version 2 and version 2"
    ]
    by_date = ok("diff", "h.zpaq", "20260131", "2026-02-28", cwd=history)
    assert by_date == ok("diff", "h.zpaq", "1", "2", cwd=history)


def test_diff_json(history):
    doc = json.loads(ok("diff", "h.zpaq", "1", "3", "--json", cwd=history).out)
    assert doc == {
        "archive": "h.zpaq",
        "from": {"version": 1, "date": "2026-01-10T12:00:00Z"},
        "to": {"version": 3, "date": "2026-03-20T12:00:00Z"},
        "added": ["t/e.txt"],
        "removed": ["t/b.txt"],
        "changed": [{"path": "t/a.txt", "what": ["content", "date"]}],
    }
    empty = json.loads(ok("diff", "h.zpaq", "0", "0", "--json", cwd=history).out)
    assert empty["from"] == {"version": 0, "date": None} and empty["added"] == []


def test_diff_api(history):
    from everybit.imli import Archive

    changes = Archive(history / "h.zpaq").diff(1, 20260301)
    assert [(c.mark, c.path, c.what) for c in changes] == [
        ("~", "t/a.txt", ("content", "date")),
        ("~", "t/b.txt", ("mode",)),
        ("~", "t/c.txt", ("date",)),
        ("+", "t/e.txt", ()),
    ]


# ---------------------------------------------------------------------------------------------- prune rules


def dated(*stamps: str) -> list[tuple[int, int]]:
    """(version number, date) pairs from "YYYY-MM-DD HH" stamps, oldest first."""
    return [
        (n, int(datetime.strptime(s, "%Y-%m-%d %H").strftime("%Y%m%d%H%M%S")))
        for n, s in enumerate(stamps, 1)
    ]


def test_keep_last():
    versions = dated(*(f"2026-01-0{d} 1{h}" for d in range(1, 4) for h in range(3)))
    assert select(versions, {"last": 4}) == {9: "last #1", 8: "last #2", 7: "last #3", 6: "last #4"}
    assert select(versions, {"last": -1}) == {n: f"last #{10 - n}" for n in range(1, 10)}
    assert select(versions, {"last": 20}) == select(versions, {"last": -1})


def test_keep_daily_counts_days_that_have_versions():
    versions = dated("2026-01-01 10", "2026-01-01 20", "2026-01-02 09", "2026-01-05 08", "2026-01-05 09")
    assert select(versions, {"daily": 2}) == {5: "daily #1", 3: "daily #2"}  # 3 and 4 January: none
    assert select(versions, {"daily": 3}) == {5: "daily #1", 3: "daily #2", 2: "daily #3"}


def test_keep_weekly_uses_iso_weeks():
    # Sunday 4 January 2026 ends ISO week 1 (from Monday 29 December 2025); Monday the 5th starts week 2.
    versions = dated("2025-12-28 12", "2025-12-29 12", "2026-01-01 12", "2026-01-04 12", "2026-01-05 12")
    assert select(versions, {"weekly": 3}) == {5: "weekly #1", 4: "weekly #2", 1: "weekly #3"}


def test_keep_monthly_and_yearly():
    versions = dated("2024-12-31 23", "2025-06-01 00", "2025-06-30 12", "2025-07-01 00", "2026-02-01 00")
    assert select(versions, {"monthly": 3}) == {5: "monthly #1", 4: "monthly #2", 3: "monthly #3"}
    assert select(versions, {"yearly": 2}) == {5: "yearly #1", 4: "yearly #2"}


def test_a_version_kept_by_an_earlier_rule_does_not_count_for_a_later_one():
    versions = dated("2026-01-01 10", "2026-01-01 20", "2026-01-02 10", "2026-01-02 20")
    # keep-last took the newest of 2 January, so that day does not count for keep-daily; the one day left
    # falls short of 2, so the oldest version is kept as well (borg >= 1.2).
    assert select(versions, {"last": 1, "daily": 2}) == {4: "last #1", 2: "daily #1", 1: "daily[oldest] #2"}
    assert select(versions, {"monthly": 12}) == {4: "monthly #1", 1: "monthly[oldest] #2"}


def test_borg_style_schedule():
    start = datetime(2026, 1, 1, 3, tzinfo=UTC)  # a version every night for 100 days
    versions = [(n, int((start + timedelta(days=n - 1)).strftime("%Y%m%d%H%M%S"))) for n in range(1, 101)]
    kept = select(versions, {"daily": 7, "weekly": 4, "monthly": 6})
    dates = {n: datetime.strptime(str(d), "%Y%m%d%H%M%S") for n, d in versions}
    assert [n for n in kept if kept[n].startswith("daily")] == list(range(100, 93, -1))
    weekly = [n for n in kept if kept[n].startswith("weekly")]
    assert len(weekly) == 4 and all(dates[n].weekday() == 6 for n in weekly)  # Sundays, the weeks' last
    monthly = sorted(n for n in kept if kept[n].startswith("monthly"))
    assert [dates[n].strftime("%m-%d") for n in monthly] == ["01-01", "01-31", "02-28", "03-31"]
    assert kept[1] == "monthly[oldest] #4"


stamps = st.lists(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2027, 12, 31)), min_size=1, max_size=40
)
rules = st.fixed_dictionaries(
    {rule: st.integers(-1, 6) for rule in ("last", "daily", "weekly", "monthly", "yearly")}
).filter(lambda r: any(r.values()))


@settings(max_examples=200, deadline=None)
@given(stamps, rules)
def test_selection_properties(when, chosen):
    versions = [(n, int(t.strftime("%Y%m%d%H%M%S"))) for n, t in enumerate(sorted(set(when)), 1)]
    kept = select(versions, chosen)
    assert kept.keys() <= {n for n, _ in versions}
    assert len(versions) in kept  # the newest version is always kept
    assert select(list(reversed(versions)), chosen) == kept
    for rule, n in chosen.items():  # each rule keeps at most N periods' newest versions
        mine = [v for v, why in kept.items() if why.startswith(f"{rule} #")]
        assert n < 0 or len(mine) <= n
        assert [int(kept[v].split("#")[1]) for v in sorted(mine, reverse=True)] == list(
            range(1, len(mine) + 1)
        )


@settings(max_examples=200, deadline=None)
@given(stamps, st.integers(1, 8))
def test_daily_alone_keeps_the_last_of_each_recent_day(when, n):
    versions = [(i, int(t.strftime("%Y%m%d%H%M%S"))) for i, t in enumerate(sorted(set(when)), 1)]
    last_of_day = {}
    for number, date in versions:
        last_of_day[date // 1_000_000] = number
    want = sorted(last_of_day.values(), reverse=True)[:n]
    kept = select(versions, {"daily": n})
    assert [v for v, why in kept.items() if "[oldest]" not in why] == want
    assert len(kept) == len(want) + (len(want) < n and 1 not in want)


# ---------------------------------------------------------------------------------------------- prune


@pytest.fixture
def backups(tmp_path, monkeypatch):
    """Seven versions over two months; version 7 puts back the mode that version 6 changed, so its
    state equals version 5's."""
    root = tmp_path / "t"
    write(root, "a.txt", b"a one\n")
    write(root, "b.txt", b"b one\n" * 1000)
    settle(root)
    add_at(monkeypatch, tmp_path, 20260105100000, "s.zpaq", "t")
    write(root, "a.txt", b"a two\n", when=BASE_TIME + 10)
    add_at(monkeypatch, tmp_path, 20260105180000, "s.zpaq", "t")
    write(root, "c.txt", b"c one\n")
    settle(root)
    add_at(monkeypatch, tmp_path, 20260106090000, "s.zpaq", "t")
    (root / "b.txt").unlink()
    settle(root)
    add_at(monkeypatch, tmp_path, 20260120090000, "s.zpaq", "t")
    write(root, "c.txt", b"c two, longer\n", when=BASE_TIME + 20)
    add_at(monkeypatch, tmp_path, 20260202090000, "s.zpaq", "t")
    (root / "a.txt").chmod(0o600)
    add_at(monkeypatch, tmp_path, 20260203090000, "s.zpaq", "t")
    (root / "a.txt").chmod(0o644)
    add_at(monkeypatch, tmp_path, 20260203120000, "s.zpaq", "t")
    return tmp_path


KEPT = [
    1,
    4,
    5,
    7,
]  # daily 2: 7, 5; monthly 2: February's newest is 7 already, so January's (4), then the oldest


def test_prune_writes_the_kept_versions(backups):
    before = (backups / "s.zpaq").read_bytes()
    res = ok(
        "prune", "s.zpaq", "-o", "p.zpaq", "--keep-daily", "2", "--keep-monthly", "2", "--list", cwd=backups
    )
    assert res.lines[:7] == [
        "Keeping (rule: daily #1):            version    7  2026-02-03 12:00:00",
        "Pruning:                             version    6  2026-02-03 09:00:00",
        "Keeping (rule: daily #2):            version    5  2026-02-02 09:00:00",
        "Keeping (rule: monthly #1):          version    4  2026-01-20 09:00:00",
        "Pruning:                             version    3  2026-01-06 09:00:00",
        "Pruning:                             version    2  2026-01-05 18:00:00",
        "Keeping (rule: monthly[oldest] #2):  version    1  2026-01-05 10:00:00",
    ]
    assert res.lines[-1].startswith("p.zpaq: kept 4 of 7 versions of s.zpaq, ")
    assert (backups / "s.zpaq").read_bytes() == before
    source_dates = version_dates("s.zpaq", cwd=backups)
    assert version_dates("p.zpaq", cwd=backups) == [source_dates[k - 1] for k in KEPT]
    for new, old in enumerate(KEPT, 1):
        assert listing("p.zpaq", "--until", str(new), cwd=backups) == listing(
            "s.zpaq", "--until", str(old), cwd=backups
        )
        ok("x", "p.zpaq", "--until", str(new), "-o", f"new{new}", cwd=backups)
        ok("x", "s.zpaq", "--until", str(old), "-o", f"old{new}", cwd=backups)
        assert snapshot(backups / f"new{new}") == snapshot(backups / f"old{new}")
    versions = json.loads(ok("versions", "p.zpaq", "--json", cwd=backups).out)["versions"]
    assert (versions[3]["added"], versions[3]["deleted"], versions[3]["data_bytes"]) == (0, 0, 0)
    assert versions[3]["archive_bytes"] == 104  # equal to version 5: only its (empty) index, a c block
    assert ok("test", "p.zpaq", cwd=backups).lines == ["p.zpaq: 4 versions, 5 files tested: all OK"]


def test_prune_list_labels(backups):
    res = ok(
        "prune",
        "s.zpaq",
        "-o",
        "p.zpaq",
        "--keep-daily",
        "2",
        "--keep-monthly",
        "2",
        "--list",
        "-n",
        cwd=backups,
    )
    labels = [line.split("  version")[0].strip() for line in res.lines[:-1]]
    assert labels == [
        "Keeping (rule: daily #1):",
        "Would prune:",
        "Keeping (rule: daily #2):",
        "Keeping (rule: monthly #1):",
        "Would prune:",
        "Would prune:",
        "Keeping (rule: monthly[oldest] #2):",
    ]
    assert [int(line.split("version")[1].split()[0]) for line in res.lines[:-1]] == [7, 6, 5, 4, 3, 2, 1]
    assert res.lines[-1] == "s.zpaq: would keep 4 of 7 versions (dry run: nothing written)"
    assert not (backups / "p.zpaq").exists()
    assert sorted(p.name for p in backups.iterdir() if p.name.startswith(".")) == []


@needs_zpaq
def test_zpaq_reads_a_pruned_archive(backups):
    ok(
        "prune",
        "s.zpaq",
        "-o",
        "p.zpaq",
        "--keep-daily",
        "2",
        "--keep-monthly",
        "2",
        "-m",
        "2",
        cwd=backups,
    )
    assert zpaq_versions("p.zpaq", "-all", cwd=backups) == len(KEPT)
    shown = zpaq("l", "p.zpaq", "-all", cwd=backups).stdout
    assert "0004/" in shown and "0005/" not in shown
    for new, old in enumerate(KEPT, 1):
        zpaq("x", "p.zpaq", "-until", str(new), "-to", f"z{new}", cwd=backups)
        ok("x", "s.zpaq", "--until", str(old), "-o", f"i{new}", cwd=backups)
        assert snapshot(backups / f"z{new}") == snapshot(backups / f"i{new}")
    zpaq("x", "p.zpaq", "-test", cwd=backups)


@needs_zpaq
def test_prune_keeps_the_key(backups):
    ok("a", "k.zpaq", "t", "--key", "pw", cwd=backups)
    write(backups, "t/more.txt", b"more\n")
    ok("a", "k.zpaq", "t", "-key", "pw", cwd=backups)
    ok("prune", "k.zpaq", "-key", "pw", "-to", "kp.zpaq", "--keep-last", "1", cwd=backups)
    assert "t/more.txt" in zpaq_list("kp.zpaq", "-key", "pw", cwd=backups)
    assert imli("l", "kp.zpaq", cwd=backups).code == 1  # encrypted: no key, no listing


def test_prune_refuses_an_existing_archive(backups):
    (backups / "p.zpaq").write_bytes(b"mine")
    res = imli("prune", "s.zpaq", "-o", "p.zpaq", "--keep-last", "1", cwd=backups)
    assert (res.code, res.errors) == (1, ["imli: error: p.zpaq: already exists (use --force to overwrite)"])
    assert (backups / "p.zpaq").read_bytes() == b"mine"
    ok("prune", "s.zpaq", "-o", "p.zpaq", "--keep-last", "1", "-f", cwd=backups)
    assert version_dates("p.zpaq", cwd=backups) == version_dates("s.zpaq", cwd=backups)[-1:]
    assert listing("p.zpaq", cwd=backups) == listing("s.zpaq", cwd=backups)


def test_prune_api(backups):
    from everybit.imli import Archive

    source = Archive(backups / "s.zpaq")
    kept = source.prune(backups / "p.zpaq", keep_last=1, keep_monthly=-1, dry_run=True)
    assert kept == {7: "last #1", 4: "monthly #1"} and not (backups / "p.zpaq").exists()
    assert source.prune(backups / "p.zpaq", keep_last=1, keep_monthly=-1) == kept
    assert [v.date for v in Archive(backups / "p.zpaq").versions()] == [20260120090000, 20260203120000]


# ---------------------------------------------------------------------------------------------- usage


def test_usage_errors_are_one_line(three):
    cases = [
        (["prune", "a.zpaq", "-o", "p.zpaq"], "imli: error: prune needs at least one rule: --keep-last, "),
        (["prune", "a.zpaq", "--keep-last", "1"], "imli: error: the following arguments are required: -o"),
        (["prune", "a.zpaq", "-o", "p.zpaq", "--keep-daily", "x"], "imli: error: argument --keep-daily: "),
        (["diff", "a.zpaq"], "imli: error: the following arguments are required: V1"),
        (["diff", "a.zpaq", "1", "yesterday"], "imli: error: argument V2: expected a version number"),
        (["diff", "a.zpaq", "1", "123456789"], "imli: error: argument V2: expected a version number"),
        (["l", "a.zpaq", "-until", "19000000"], "imli: error: --until 19000000: not a version number"),
        (["a", "a.zpaq", "tree", "-method", "7"], "imli: error: argument -m/--method: method must be 0..5"),
        (["x", "a.zpaq", "-threads", "many"], "imli: error: argument -T/--threads: threads must be"),
        (["l", "a.zpaq", "-force"], "imli: error: unrecognized arguments: --force"),
    ]
    for args, start in cases:
        res = imli(*args, cwd=three)
        assert (res.code, len(res.errors)) == (2, 1), (args, res.errors)
        assert res.errors[0].startswith(start), (args, res.errors)
    assert not (three / "p.zpaq").exists()
