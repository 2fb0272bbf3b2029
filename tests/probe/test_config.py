"""Study configs: the shipped ones parse; every mistake is one clear line naming the file and line."""

import pytest

from everybit.common.errors import InputError
from everybit.probe import config

pytest.importorskip("yaml")

PATCH = """\
study: patch
pairs:
  - clean: "it is 7 am"
    corrupt: "it is 7 pm"
target: " morning"
foil: " evening"
"""


def error(text, study=None):
    with pytest.raises(InputError) as exc:
        config.loads(text, "s.yaml", study)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "name, study",
    [
        ("transplant_yesno", "transplant"),
        ("patch_ampm", "patch"),
        ("neurons_time", "neurons"),
        ("ablate_seashells", "ablate"),
        ("transplant_yesno_gemma3", "transplant"),
        ("patch_ampm_gemma3", "patch"),
        ("neurons_time_gemma3", "neurons"),
        ("ablate_seashells_gemma3", "ablate"),
    ],
)
def test_shipped_configs_parse(name, study):
    cfg = config.load(name, study)
    assert cfg.study == study and type(cfg) is config.CLASSES[study]
    assert config.find_config(f"{name}.yaml") == config.shipped()[name]


def test_every_shipped_config_parses():
    for name, path in config.shipped().items():
        cfg = config.load(path)
        assert cfg.study == name.split("_")[0], name


def test_patch_config_fields():
    cfg = config.loads(PATCH + "layers: 8-10\ncomponents: [resid_pre, head]\nmethod: attribution\n")
    assert cfg.pairs == [config.Pair("pair0", "it is 7 am", "it is 7 pm")]
    assert (cfg.target, cfg.foil, cfg.layers, cfg.method) == (
        " morning",
        " evening",
        (8, 9, 10),
        "attribution",
    )
    assert cfg.directions == ["sufficiency", "necessity"]


def test_prompts_as_list_or_mapping():
    a = config.loads("study: neurons\nprompts: [one, two]\n")
    b = config.loads("study: neurons\nprompts: {first: one, second: two}\n")
    c = config.loads("study: neurons\nprompts: [{name: x, text: one}]\n")
    assert [p.name for p in a.prompts] == ["prompt0", "prompt1"]
    assert [(p.name, p.text) for p in b.prompts] == [("first", "one"), ("second", "two")]
    assert c.prompts == [config.Prompt("x", "one")]


@pytest.mark.parametrize(
    "text, expected",
    [
        (PATCH + "tagret: x\n", "s.yaml:7: unknown key 'tagret' in a patch config (did you mean 'target'?)"),
        (PATCH + "components: [resid_pre, mlp]\n", "unknown component 'mlp'"),
        (PATCH + "components: [neuron]\n", "component 'neuron' is not used by this study"),
        (PATCH + "target: x\n", "s.yaml:7: key 'target' appears twice"),
        (PATCH.replace('" evening"', '" morning"'), "foil: must differ from target"),
        (PATCH + "layers: [1, true]\n", "layers: expected"),
        (PATCH + "layers: top\n", "layers: expected 'all', a number, a list or a range"),
        (PATCH + "top_k: 0\n", "top_k: must be at least 1"),
        (PATCH + "method: fast\n", "method: unknown value 'fast'"),
        (PATCH + "directions: [both]\n", "directions: unknown value 'both'"),
        ("study: patch\npairs: [{clean: a}]\ntarget: x\nfoil: y\n", "pairs[0]: missing 'corrupt'"),
        ("study: patch\ntarget: x\nfoil: y\n", "s.yaml: a patch config needs 'pairs:'"),
        ("study: transplant\nsources: [a]\nbaseline: b\ntargets: [yes, no]\n", "the boolean True (quote it"),
        ("study: ablate\nprompt: x\nthreshold: 2\n", "threshold: a probability change between 0 and 1"),
        ("study: ablate\nprompt: x\nmean_prompts: [a]\n", "mean_prompts: only used with mode: mean"),
        ("study: neurons\nprompts: []\n", "prompts: needs at least one prompt"),
        ("study: probe\n", "unknown study 'probe'"),
        ("prompts: [a]\n", "s.yaml: missing 'study:'"),
        ("- a\n- b\n", "expected a mapping of keys"),
        ("study: patch\npairs: [\n", "s.yaml:3: not valid YAML"),
    ],
)
def test_errors(text, expected):
    assert expected in error(text)


def test_study_must_match_the_verb():
    assert "this is a patch config, not a ablate config" in error(PATCH, "ablate")
    assert config.loads(PATCH, study="patch").study == "patch"
    assert config.loads("prompt: x\n", study="ablate").prompt == "x"  # the verb stands in for study:


def test_layers_resolve_against_the_model():
    assert config.resolve_layers("all", 3) == [0, 1, 2]
    assert config.resolve_layers((-1, 0, 2), 3) == [2, 0]
    with pytest.raises(InputError, match=r"s.yaml: layer 30 out of range: the model has 30 layers \(0-29\)"):
        config.resolve_layers((29, 30), 30, "s.yaml")


def test_missing_config_names_the_shipped_ones(tmp_path):
    with pytest.raises(InputError, match=r"no such file .*shipped configs: ablate_seashells"):
        config.find_config(tmp_path / "nope.yaml")
    assert config.load(config.shipped()["patch_ampm"]).study == "patch"
