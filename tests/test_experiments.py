"""Every study end to end at micro scale on the corpus slice: each writes report.md with every
section filled from real (finite) numbers, its plots and results.json. The studies share one
workdir, so arms two studies need are trained once (the runner's reuse is exercised too).

The matched-parameter/compute helpers and the rank measures are tested in test_analysis.py."""

import importlib.util
import json
import math
import os
import re

import pytest

from data_fixtures import wiki_slice  # noqa: F401  (fixture)
from t5x_style import experiments
from t5x_style.experiments import arch_objective, arms, runner, scales

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def study_reports(wiki_slice, tmp_path_factory):  # noqa: F811  (the fixture above)
    corpus, data_dir = wiki_slice
    workdir = str(tmp_path_factory.mktemp("experiments"))
    overrides = {"data.corpus": corpus, "data.data_dir": data_dir, "eval.heldout_corpus": corpus}
    arms_dir = os.path.join(workdir, "arms")
    return {name: experiments.run_study(name, "micro", os.path.join(workdir, name), overrides,
                                        log=lambda line: None, arms_dir=arms_dir)
            for name in experiments.STUDIES}


def _numbers(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _numbers(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _numbers(value)
    elif isinstance(tree, float):
        yield tree


@pytest.mark.parametrize("name", experiments.STUDIES)
def test_study_writes_a_complete_report(study_reports, name):
    path = study_reports[name]
    directory = os.path.dirname(path)
    text = open(path).read()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert sections, text
    for section in sections:
        heading, _, body = section.partition("\n")
        assert body.strip(), f"section {heading!r} of {name} is empty"
    assert not re.search(r"\bnan\b|\binf\b", text), text
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert os.path.getsize(os.path.join(directory, image)) > 1000, image
    results = json.load(open(os.path.join(directory, "results.json")))
    assert results["study"] == name
    numbers = list(_numbers(results))
    assert numbers and all(math.isfinite(x) for x in numbers)


def _load_config_file(study):
    spec = importlib.util.spec_from_file_location(
        study, os.path.join(REPO, "configs", "experiments", f"{study}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("study", ["arch_objective", "gpt_vs_unilm", "encdec_vs_decoder",
                                   "mixed_attention_mlm", "attention_rank", "nope"])
def test_every_arm_is_a_config_file_at_paper_scale(study):
    module = _load_config_file(study)
    for name in experiments.study_module(study).ARMS:
        config = module.get_config(f"{name}-tpu-seed1")
        assert (config.model.d_model, config.model.num_heads, config.data.batch_size,
                config.train.optimizer, config.seed) == (4096, 64, 2048, "adafactor", 1)
        assert config.data.sequence_length == (512 if "span_corruption" in name else 626)


def test_config_argument_errors_name_what_is_allowed():
    with pytest.raises(ValueError, match="ARM-SCALE"):
        arms.config_from_argument(arch_objective.ARMS, "causal_decoder-full_lm-laptop")


def test_a_workdir_of_another_config_is_not_reused(tmp_path):
    arm = arch_objective.ARMS["causal_decoder-full_lm"]
    micro = runner.Runner(str(tmp_path), scales.get_scale("micro"))
    os.makedirs(micro.arm_dir(arm, 0))
    other = arm.config(scales.get_scale("micro"), 0)
    other.train.num_steps = 5
    with open(os.path.join(micro.arm_dir(arm, 0), "config.json"), "w") as f:
        f.write(other.to_json())
    with pytest.raises(ValueError, match="different config"):
        micro.train(arm, 0)
