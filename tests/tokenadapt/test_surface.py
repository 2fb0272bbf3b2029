"""Matching vocabularies by the bytes tokens stand for, across spellings."""

from tokenizers import SentencePieceBPETokenizer, Tokenizer, models

from everybit.tokenadapt.surface import Spelling, shared_ids, spelling, surface, token_bytes


def test_token_bytes():
    assert token_bytes("Ġthe", Spelling.BYTE_LEVEL) == b" the"
    assert token_bytes("Ċ", Spelling.BYTE_LEVEL) == b"\n"
    assert token_bytes("\u2581the", Spelling.SENTENCEPIECE) == b" the"
    assert token_bytes("<0x0A>", Spelling.SENTENCEPIECE) == b"\n"
    assert token_bytes("naïve", Spelling.PLAIN) == "naïve".encode()


def test_sentencepiece_tokenizer_shares_most_tokens_with_a_byte_level_model(smol_tok, corpus):
    spm = SentencePieceBPETokenizer()
    spm.train([str(p) for p in corpus], vocab_size=2000, show_progress=False)
    spm_tok = Tokenizer.from_str(spm.to_str())
    assert spelling(spm_tok) is Spelling.SENTENCEPIECE
    assert spelling(smol_tok.backend_tokenizer) is Spelling.BYTE_LEVEL
    new, old = surface(spm_tok), surface(smol_tok.backend_tokenizer)
    shared = shared_ids(new, old)
    assert len(shared) > 0.6 * len(new.keys)
    raw = {i for i, t in enumerate(spm_tok.get_vocab()) if t in smol_tok.get_vocab()}
    assert len(raw) < 0.6 * len(shared)  # matching raw strings (the original tool) misses the "▁word"s
    the = spm_tok.token_to_id("\u2581the")
    assert old.keys[shared[the]] == ("bytes", b" the")


def test_special_tokens_match_by_content(smol_tok):
    tok = Tokenizer(models.BPE(vocab={"a": 0}, merges=[]))
    tok.add_special_tokens(["<|im_end|>", "<|mine|>"])
    new = surface(tok)
    shared = shared_ids(new, surface(smol_tok.backend_tokenizer))
    assert shared[1] == smol_tok.convert_tokens_to_ids("<|im_end|>") and 2 not in shared


def test_plain_added_tokens_match_by_their_text(smol_tok):
    tok = Tokenizer(models.BPE(vocab={"a": 0}, merges=[]))
    tok.add_tokens(["\n\n", "<table>"])  # Gemma keeps newline runs and HTML tags as plain added tokens
    tok.add_special_tokens(["<|im_end|>"])
    new = surface(tok)
    assert new.keys[1:] == [("bytes", b"\n\n"), ("bytes", b"<table>"), ("special", "<|im_end|>")]
    shared = shared_ids(new, surface(smol_tok.backend_tokenizer))
    assert shared[1] == smol_tok.convert_tokens_to_ids("\u010a\u010a")  # byte-level "ĊĊ"


def test_byte_fallback_entries_come_last(smol_tok):
    """Gemma 3 and Llama 2 hold `<0x65>` and `e` for the same byte; the model uses (and trained) `e`."""
    vocab = {"<0x65>": 0, "<0x20>": 1, "e": 2, "\u2581": 3}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True))
    old = surface(tok)
    assert old.spelling is Spelling.SENTENCEPIECE and old.fallback == {0, 1}
    assert old.keys[0] == old.keys[2] == ("bytes", b"e")
    shared = shared_ids(surface(smol_tok.backend_tokenizer), old)
    assert shared[smol_tok.convert_tokens_to_ids("e")] == 2
    assert shared[smol_tok.convert_tokens_to_ids("\u0120")] == 3  # byte-level space: the old `▁`
    assert shared_ids(old, old) == {0: 0, 1: 1, 2: 2, 3: 3}  # its own model: every id to itself
