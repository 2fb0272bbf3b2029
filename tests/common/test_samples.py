from everybit.common.samples import stdlib_files, stdlib_sample


def test_sample_is_deterministic_and_sized():
    assert stdlib_sample(100_000) == stdlib_sample(100_000)
    assert len(stdlib_sample(100_000)) == 100_000


def test_files_are_named_and_cover_the_limit():
    files = stdlib_files(50_000)
    assert [n for n, _ in files] == sorted(n for n, _ in files)
    assert sum(len(d) for _, d in files) >= 50_000
    assert stdlib_sample(50_000) == b"".join(d for _, d in files)[:50_000]
