"""The four studies on a tiny random Llama through the real engine: numbers checked against single patches."""

import itertools
import math

import pytest

from everybit.common.errors import InputError, UsageError
from everybit.probe import config
from tests.probe.study_model import D_MLP, N_HEADS, N_LAYERS, one_thread, tiny_study_lm, torch  # noqa: F401

TRANSPLANT = """\
study: transplant
sources: {q1: "is the sky blue answer", q2: "is the grass green answer"}
baseline: "please write a poem about leaves"
targets: [" yes", " no"]
"""
SAME_LENGTH = """\
study: transplant
sources: {q1: "is the sky blue answer please", q2: "is the grass green answer please"}
baseline: "please write a poem about leaves"
targets: [" yes", " no"]
"""
PATCH = """\
study: patch
pairs: [{name: p, clean: "it is 7 am good", corrupt: "it is 7 pm good"}]
target: " morning"
foil: " evening"
"""


@pytest.fixture(scope="module")
def lm():
    return tiny_study_lm()


def run(lm, text, method="exact", **changes):
    from everybit.probe.interventions import Engine
    from everybit.probe.studies import Context, run_study

    cfg = config.loads(text, "s.yaml")
    for k, v in changes.items():
        setattr(cfg, k, v)
    return run_study(cfg, Context(lm, Engine(lm), method=method, quiet=True))


def single(lm, prompt, patch):
    """fp32 log-probs of one patched run, the slow obvious way."""
    from everybit.probe.interventions import Engine, log_probs

    return log_probs(Engine(lm).patched_logits(lm.encode(prompt), [[patch]])[0])


def value(rows, **where):
    found = [r["value"] for r in rows if all(r[k] == v for k, v in where.items())]
    assert len(found) == 1, where
    return found[0]


def test_transplant_last_position(lm):
    from everybit.probe.interventions import Engine, Patch, Site, log_probs

    res = run(lm, TRANSPLANT)
    rows = res.tables["transplant"]
    n_sites = N_LAYERS * 3 + N_LAYERS * N_HEADS
    assert len(rows) == 2 * n_sites * 3  # 2 sources x sites x (yes, no, yes - no)
    assert {r["measure"] for r in rows} == {
        "delta_logprob",
        "delta_margin",
    }  # unequal lengths: no attribution
    # one cell against a plain single patch: the source's last-position MLP output written into the baseline
    src = Engine(lm).run(lm.encode("is the sky blue answer"))
    site = Site("mlp_out", 1, -1)
    yes, no = lm.token_id(" yes"), lm.token_id(" no")
    base = log_probs(Engine(lm).logits(lm.encode("please write a poem about leaves"))[-1])
    got = single(lm, "please write a poem about leaves", Patch(site, src.value(site)))
    d_yes = value(rows, source="q1", component="mlp_out", layer=1, target=" yes")
    d_margin = value(rows, source="q1", component="mlp_out", layer=1, target=" yes -  no")
    assert d_yes == pytest.approx(float(got[yes] - base[yes]), abs=1e-5)
    assert d_margin == pytest.approx(float((got[yes] - base[yes]) - (got[no] - base[no])), abs=1e-5)
    ranking = [r for r in res.tables["ranking"] if r["target"] == " yes"]
    assert len(ranking) == n_sites and [r["rank"] for r in ranking] == list(range(1, n_sites + 1))
    assert all(a["mean_delta"] >= b["mean_delta"] for a, b in itertools.pairwise(ranking))
    assert [h.name for h in res.heatmaps] == [
        "layers_0",
        "heads_0",
        "layers_1",
        "heads_1",
        "layers_2",
        "heads_2",
    ]
    assert len(res.heatmaps[1].values) == N_LAYERS and len(res.heatmaps[1].values[0]) == N_HEADS
    assert {r["role"] for r in res.tables["prompts"]} == {"baseline", "source"}
    assert any(line.startswith("margin  yes -  no:") for line in res.summary)


def test_transplant_attribution_screen(lm):
    res = run(lm, SAME_LENGTH, method="attribution", top_k=2)
    rows = res.tables["transplant"]
    for source in ("q1", "q2"):
        exact_heads = {
            r["label"]
            for r in rows
            if r["source"] == source and r["component"] == "head" and r["measure"] != "attribution"
        }
        estimated = [r for r in rows if r["source"] == source and r["measure"] == "attribution"]
        assert 2 <= len(exact_heads) <= 6 and len(estimated) == N_LAYERS * N_HEADS * 3
    rhos = res.meta["spearman"]
    assert len(rhos) == 6 and all(s["compared"].startswith("top ") for s in rhos)
    exact = run(lm, SAME_LENGTH)  # exact sweep: attribution is still compared, over every head
    assert all(s["compared"] == f"all {N_LAYERS * N_HEADS}" for s in exact.meta["spearman"])
    assert all(-1 <= s["spearman"] <= 1 for s in exact.meta["spearman"])


def test_transplant_aligned_positions(lm):
    res = run(lm, SAME_LENGTH, positions="aligned", components=["resid_pre"])
    rows = res.tables["transplant"]
    # the whole layer-0 input written over the baseline's: the patched run is the source's own run
    from everybit.probe.interventions import Engine, log_probs

    src = log_probs(Engine(lm).logits(lm.encode("is the sky blue answer please"))[-1])
    base = log_probs(Engine(lm).logits(lm.encode("please write a poem about leaves"))[-1])
    yes = lm.token_id(" yes")
    got = value(rows, source="q1", component="resid_pre", layer=0, target=" yes")
    assert got == pytest.approx(float(src[yes] - base[yes]), abs=1e-4)


@pytest.mark.parametrize(
    "text, changes, method, error, message",
    [
        (TRANSPLANT, {"targets": [" yes", "yes please"]}, "exact", InputError, "'yes please' is 2 tokens"),
        (TRANSPLANT, {"layers": (2,)}, "exact", InputError, "layer 2 out of range: the model has 2 layers"),
        (TRANSPLANT, {"positions": "aligned"}, "exact", InputError, "positions: aligned needs equal lengths"),
        (TRANSPLANT, {}, "attribution", UsageError, "every source prompt must have as many tokens"),
        (PATCH.replace("it is 7 pm good", "it is 7 pm good night"), {}, "exact", InputError, "equal length"),
    ],
)
def test_errors(lm, text, changes, method, error, message):
    with pytest.raises(error, match=message):
        run(lm, text, method, **changes)


def test_patch_both_directions(lm):
    res = run(lm, PATCH)
    rows = res.tables["patch"]
    norm = {
        (r["direction"], r["component"], r["layer"], r["position"], r["index"]): r["value"]
        for r in rows
        if r["measure"] == "normalized"
    }
    # the embedding of the one differing token (am/pm, position 3) decides everything; the others nothing
    assert norm["sufficiency", "resid_pre", 0, 3, None] == pytest.approx(1.0, abs=1e-3)
    assert norm["necessity", "resid_pre", 0, 3, None] == pytest.approx(0.0, abs=1e-3)
    for pos in (0, 1, 2):
        assert norm["sufficiency", "resid_pre", 0, pos, None] == pytest.approx(0.0, abs=1e-4)
    heads = [k for k in norm if k[1] == "head"]
    assert len(heads) == 2 * N_LAYERS * N_HEADS and all(k[3] is None for k in heads)
    # logit diff rows agree with a plain single patch
    from everybit.probe.interventions import Engine, Patch, Site

    clean = Engine(lm).run(lm.encode("it is 7 am good"))
    site = Site("head", 1, None, 2)
    lg = Engine(lm).patched_logits(lm.encode("it is 7 pm good"), [[Patch(site, clean.value(site))]])[0]
    ld = float(lg[lm.token_id(" morning")] - lg[lm.token_id(" evening")])
    got = value(rows, direction="sufficiency", component="head", layer=1, index=2, measure="logit_diff")
    assert got == pytest.approx(ld, abs=1e-5)
    assert len(res.meta["spearman"]) == 2 and len(res.tables["runs"]) == 2
    names = [h.name for h in res.heatmaps]
    assert names == [
        "resid_pre_sufficiency_pair0",
        "resid_pre_necessity_pair0",
        "heads_sufficiency",
        "heads_necessity",
    ]


def test_patch_attribution_rechecks_top_k(lm):
    res = run(lm, PATCH, method="attribution", top_k=3, components=["head"], directions=["sufficiency"])
    rows = res.tables["patch"]
    assert len([r for r in rows if r["measure"] == "logit_diff"]) == 3
    assert len([r for r in rows if r["measure"] == "attribution"]) == N_LAYERS * N_HEADS
    assert res.meta["spearman"][0]["compared"] == "top 3"


def test_neurons(lm):
    text = """\
study: neurons
prompts: ["it is 7 am", "good morning", "good evening it is 9 pm"]
control_prompts: ["the cat sat on the mat"]
threshold: 0.0
top_k: 5
top_prompts: 2
"""
    res = run(lm, text)
    table = res.tables["neurons"]
    assert len(table) == N_LAYERS * D_MLP
    assert sorted(r["rank"] for r in table) == list(range(1, N_LAYERS * D_MLP + 1))
    assert all(r["frequency"] in (0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0) for r in table)
    top = res.tables["top_neurons"]
    assert [r["rank"] for r in top] == [1, 2, 3, 4, 5]
    assert [r["selectivity"] for r in top] == sorted((r["selectivity"] for r in top), reverse=True)
    # the mean is the mean over prompts of each prompt's max over positions
    from everybit.probe.interventions import Engine

    r = top[0]
    acts = [
        float(Engine(lm).run(lm.encode(p)).neuron[r["layer"], :, r["neuron"]].max())
        for p in ("it is 7 am", "good morning", "good evening it is 9 pm")
    ]
    assert r["mean"] == pytest.approx(sum(acts) / 3, abs=1e-5)
    assert r["top_prompts"].count("(") == 2
    assert len(res.tables["activations"]) == 5 * 4
    assert [h.name for h in res.heatmaps] == ["top_neurons", "frequency"]


def test_ablate(lm):
    from everybit.probe.interventions import Engine, Patch, Site

    text = 'study: ablate\nprompt: "she sells sea shells by the"\nlayers: all\nthreshold: 0.001\n'
    res = run(lm, text)
    rows = res.tables["ablate"]
    assert len(rows) == N_LAYERS * D_MLP
    prompt = "she sells sea shells by the"
    base = torch.softmax(Engine(lm).logits(lm.encode(prompt))[-1], -1)
    top1 = int(base.argmax())
    assert res.meta["target"] == lm.decode([top1])
    for r in rows[:: D_MLP // 3]:
        lg = Engine(lm).patched_logits(
            lm.encode(prompt), [[Patch(Site("neuron", r["layer"], None, r["neuron"]), mode="zero")]]
        )[0]
        p = torch.softmax(lg, -1)
        assert r["p_target"] == pytest.approx(float(p[top1]), abs=1e-6)
        assert r["flipped"] == (int(p.argmax()) != top1)
        assert r["over_threshold"] == (abs(r["delta_p"]) > 0.001)
    assert [h.name for h in res.heatmaps] == ["ablate_L0", "ablate_L1"]
    marks = sum(m for row in res.heatmaps[0].marks for m in row) + sum(
        m for row in res.heatmaps[1].marks for m in row
    )
    assert marks == sum(r["flipped"] for r in rows)
    assert not any(math.isnan(v) for row in res.heatmaps[0].values for v in row)  # 48 neurons fill the grid


def test_ablate_mean_mode(lm):
    text = """\
study: ablate
prompt: "she sells sea shells by the"
target: " number"
mode: mean
mean_prompts: ["the cat sat on the mat", "good morning"]
positions: last
layers: [1]
"""
    res = run(lm, text)
    assert len(res.tables["ablate"]) == D_MLP and res.meta["target"] == " number"
    assert res.summary[2].startswith("unablated: top-1 ")
