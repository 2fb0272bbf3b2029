"""tokenadapt: give a causal LM a new tokenizer, initialising the rows of the tokens it has never seen.

    from everybit import tokenadapt
    model, tok = tokenadapt.load("SmolLM2-135M-Instruct.Q4_1.gguf")      # HF folder, .gguf or hub id
    new = tokenadapt.load_new_tokenizer("st32k")                          # folder or tokenizer.json
    report = tokenadapt.transplant(model, tok, new, method="fitted")      # in place; tied stays tied
    tokenadapt.save(model, new, "smol-st32k", report)                      # save_pretrained + tokenizer
    tokenadapt.score(model, new, text).bits_per_byte                       # tokenizer-independent metric

Methods: random, mean, subtoken-mean, local, global, hybrid (TokenAdapt's), omp (mergekit tokensurgeon's
Orthogonal Matching Pursuit, in a donor model's space or the external embedder's: ``transplant(...,
donor=(model, tok, name))``), calibrated (ours: hybrid's family and its blend with OMP, chosen by the model's
own bits per byte on calibration text) and fitted (experimental). ``heal`` trains what the transplant could
not guess (tokenadapt.heal). docs/tokenadapt.md has the details.
"""

from everybit.tokenadapt.evaluate import LMScores, score
from everybit.tokenadapt.methods import METHODS, Options
from everybit.tokenadapt.models import load
from everybit.tokenadapt.transplant import Report, load_new_tokenizer, save, transplant

__all__ = [
    "METHODS",
    "LMScores",
    "Options",
    "Report",
    "load",
    "load_new_tokenizer",
    "save",
    "score",
    "transplant",
]
