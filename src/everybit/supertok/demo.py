"""The supertok section of ``everybit demo``: standard BPE and supertok trained on the same built-in text,
one sentence cut by each, and bytes/token on held-out text.

Text every Python has: the interactive help topics (English, `pydoc_data`) and stdlib sources (code). The
first part of each trains both tokenizers; the last part, never seen in training, is scored. Everything shown
is measured in this run.
"""

from __future__ import annotations

from everybit.common.report import Chart, Section, Series, Table
from everybit.common.samples import text_corpora
from everybit.supertok.evaluate import score
from everybit.supertok.training import TrainConfig, train

VOCAB = 4_000
SENTENCE = "The interpreter is frequently used as a calculator, and for the first time in a while it works.\n"


def demo(ctx) -> Section:
    files, held = text_corpora(ctx.scratch)
    toks = {m: train(files, TrainConfig(method=m, vocab_size=VOCAB)) for m in ("bpe", "supertok")}
    cut = Table(
        ["tokenizer", "tokens", "how it cuts the sentence (| marks token boundaries)"],
        [],
        title=f"One sentence, vocab {VOCAB:,}",
    )
    for name, tok in toks.items():
        ids = tok.encode(SENTENCE).ids
        pieces = "|".join(tok.decode([i]) for i in ids).replace("\n", "\\n")
        cut.rows.append([name, len(ids), pieces])
    scores = [score(tok, text, name, domain) for domain, text in held.items() for name, tok in toks.items()]
    table = Table(
        ["tokenizer", "held-out text", "bytes/token", "% tokens spanning words", "round trip"],
        [[s.tokenizer, s.domain, s.bytes_per_token, s.spanning_pct, s.round_trip] for s in scores],
        title="Held-out bytes per token (higher is better)",
    )
    chart = Chart(
        "Held-out bytes per token",
        [
            Series(
                name,
                [s.domain for s in scores if s.tokenizer == name],
                [s.bytes_per_token for s in scores if s.tokenizer == name],
            )
            for name in toks
        ],
        ylabel="bytes / token",
    )
    size = sum(f.stat().st_size for f in files)
    en = {s.tokenizer: s.bytes_per_token for s in scores if s.domain.startswith("English")}
    return Section(
        "supertok",
        text=f"Both trained on ~{size // 1000} KB of built-in text to {VOCAB:,} tokens; supertok learns "
        "tokens that span words.",
        headline=[("English bytes/token, supertok vs bpe", f"{en['supertok']:.2f} vs {en['bpe']:.2f}")],
        tables=[cut, table],
        charts=[chart],
    )
