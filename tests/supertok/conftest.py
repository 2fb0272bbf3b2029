import os
import pydoc_data.topics

import pytest

from everybit.common.samples import stdlib_sample

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """~200 KB of real text: Python's help topics (English) and stdlib sources (code)."""
    root = tmp_path_factory.mktemp("corpus")
    en = root / "en.txt"
    en.write_text("".join(pydoc_data.topics.topics.values())[:150_000])
    code = root / "code.py"
    code.write_bytes(stdlib_sample(60_000).rsplit(b"\n", 1)[0] + b"\n")
    return [en, code]


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory):
    """One small tokenizer folder per method (vocab 600)."""
    from everybit.supertok import METHODS, TrainConfig
    from everybit.supertok.folder import save
    from everybit.supertok.training import timed_train

    root = tmp_path_factory.mktemp("toks")
    out = {}
    for method in METHODS:
        cfg = TrainConfig(method=method, vocab_size=600)
        tok, record = timed_train(corpus, cfg)
        out[method] = save(tok, root / method, cfg.specials, record)
    return out
