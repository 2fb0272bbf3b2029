import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
