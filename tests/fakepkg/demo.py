"""A demo section with one table and one chart, or a failure when FAKE_DEMO_FAIL is set."""

import os

from everybit.common.report import Chart, Section, Series, Table


def demo(ctx):
    if os.environ.get("FAKE_DEMO_FAIL"):
        raise RuntimeError("fake demo failed on purpose")
    (ctx.scratch / "x").write_text("scratch is writable")
    return Section(
        "ignored title",
        headline=[("ratio", "2.5x")],
        tables=[Table(["codec", "ratio"], [["a", 2.5], ["b", 1.25]])],
        charts=[Chart("ratios", [Series("ratio", ["a", "b"], [2.5, 1.25])], ylabel="x")],
    )
