from everybit.registry import TOOLS, find


def test_all_eight_tools_registered():
    names = [t.name for t in TOOLS]
    assert names == ["ulz", "bpez", "imli", "fontpack", "imgkan", "supertok", "tokenadapt", "probe"]
    assert all(t.module == f"everybit.{t.name}.cli" for t in TOOLS)


def test_find_and_built_state():
    assert find("ulz").name == "ulz"
    assert find("nope") is None
    for tool in TOOLS:
        assert tool.is_built() == (__import__("importlib").util.find_spec(tool.package) is not None)
