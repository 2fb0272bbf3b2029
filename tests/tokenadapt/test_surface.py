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
