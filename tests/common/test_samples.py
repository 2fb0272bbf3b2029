from everybit.common.samples import stdlib_files, stdlib_sample, text_corpora


def test_sample_is_deterministic_and_sized():
    assert stdlib_sample(100_000) == stdlib_sample(100_000)
    assert len(stdlib_sample(100_000)) == 100_000


def test_files_are_named_and_cover_the_limit():
    files = stdlib_files(50_000)
    assert [n for n, _ in files] == sorted(n for n, _ in files)
    assert sum(len(d) for _, d in files) >= 50_000
    assert stdlib_sample(50_000) == b"".join(d for _, d in files)[:50_000]


def test_text_corpora_hold_out_the_end_of_each_text(tmp_path):
    files, held = text_corpora(tmp_path)
    assert [f.name for f in files] == ["en.txt", "code.txt"] and all(f.parent == tmp_path for f in files)
    for file, text in zip(files, held.values(), strict=True):
        trained = file.read_text()
        assert trained.endswith("\n") and 3 < len(trained) / len(text) < 5  # about 80% / 20%
    assert list(held) == ["English (help topics)", "Python (stdlib)"]
