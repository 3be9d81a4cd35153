"""Evaluation on real tasks: BIG-bench JSON tasks from the pinned sdist (fetched once into the
user cache), cloze and description tasks from real held-out documents, user JSONL files, and a
tiny-model end-to-end run writing results.json and the Markdown table."""

import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from data_fixtures import wiki_slice  # noqa: F401  (a pytest fixture)
from test_evaluation import micro_config, micro_model
from t5x_style import evaluation
from t5x_style.data import tfds_builder
from t5x_style.evaluation import __main__ as cli
from t5x_style.evaluation import bigbench, heldout_tasks, jsonl_tasks, tasks


def raw_task(*parts):
    return json.loads(bigbench.cache_root().joinpath(*parts, "task.json").read_text())


def test_bigbench_subtasks_keep_their_own_prefixes():
    loaded = {t.name: t for t in bigbench.load("cause_and_effect", max_items=10, sample_seed=0)}
    assert sorted(loaded) == ["cause_and_effect:one_sentence",
                              "cause_and_effect:one_sentence_no_prompt",
                              "cause_and_effect:two_sentences"]
    assert {t.group for t in loaded.values()} == {"cause_and_effect"}
    raw = raw_task("cause_and_effect", "one_sentence")
    task = loaded["cause_and_effect:one_sentence"]
    assert task.description == raw["task_prefix"] == \
        "Which of the following sentences makes more sense?"
    assert task.available == len(raw["examples"]) and len(task.examples) == 10
    first = raw["examples"][0]
    example = next(e for e in task.fewshot_pool if set(e.choices) == set(first["target_scores"]))
    order = np.random.RandomState(42).permutation(sorted(first["target_scores"]))  # BIG-bench's
    assert example.query == ("\nexample:" + first["input"] + "\n  choice: "
                             + "\n  choice: ".join(order) + "\nanswer: ")
    assert example.choices[example.gold[0]] == max(first["target_scores"],
                                                   key=first["target_scores"].get)
    bare = loaded["cause_and_effect:one_sentence_no_prompt"]  # append_choices_to_input: False
    assert bare.description == "" and all(e.query == "" for e in bare.examples)
    assert task.random_baseline == 0.5
    # 1-shot: task_prefix, demo, BIG-bench's default separator "\n", the query; the choice
    # follows the output prefix directly.
    demo = tasks.demonstrations(task, 0, 1, 1234)[0]
    request = tasks.build_requests(task, 1, 1234)[0][0]
    assert request.context == (raw["task_prefix"] + demo.query + demo.choices[demo.gold[0]] + "\n"
                               + task.examples[0].query)
    assert request.continuation == task.examples[0].choices[0]


def test_bigbench_subsample_is_fixed_and_uses_default_prefixes():
    first = bigbench.load("hyperbaton", max_items=30, sample_seed=0)[0]
    again = bigbench.load("hyperbaton", max_items=30, sample_seed=0)[0]
    other = bigbench.load("hyperbaton", max_items=30, sample_seed=1)[0]
    assert first.examples == again.examples != other.examples and len(first.examples) == 30
    raw = {e["input"]: e["target_scores"] for e in raw_task("hyperbaton")["examples"]}
    for example in first.examples:
        text = example.query[len("\nQ: "):-len("\nA: ")]
        assert example.query == "\nQ: " + text + "\nA: "  # no choices appended (task says False)
        assert example.choices == tuple(raw[text])
        assert [example.choices[g] for g in example.gold] == [
            c for c, s in raw[text].items() if s == 1]
    assert first.available + sum(first.skipped.values()) == 50000


def test_unknown_task_names_fail_clearly():
    with pytest.raises(tasks.TaskError, match="unknown BIG-bench JSON task"):
        bigbench.load("no_such_task_xyz", 10, 0)
    with pytest.raises(tasks.TaskError, match="unknown task name 'wat'"):
        evaluation.load_tasks(micro_config("causal_decoder").eval, ["wat"])


def test_heldout_cloze_and_description_come_from_heldout_documents(wiki_slice):  # noqa: F811
    corpus, data_dir = wiki_slice
    docs = heldout_tasks.documents(tfds_builder.heldout_documents(corpus, data_dir))
    texts = [d["text"] for d in docs]
    cloze = heldout_tasks.load("lambada", 100, 0, corpus, data_dir)
    assert cloze.kind == "cloze" and len(cloze.examples) >= 3
    for example in cloze.examples:
        word = example.choices[0]
        assert len(word) >= 3 and word.lower() not in heldout_tasks.STOPWORDS
        assert word.lower() in example.query.lower()  # LAMBADA's "seen in the context" filter
        assert any(example.query + " " + word in text for text in texts)  # real text, verbatim
        assert len(example.query.split()) <= heldout_tasks.CONTEXT_WORDS
    described = heldout_tasks.load("description", 100, 0, corpus, data_dir)
    by_title = {d["title"]: d for d in docs}
    for example in described.examples:
        assert len(set(example.choices)) == 4 and len(example.gold) == 1
        lead = example.query[len("Article: "):].split("\n")[0]
        source = next(d for d in by_title.values() if d["text"].startswith(lead[:40]))
        assert example.choices[example.gold[0]] == source["description"].strip()
    assert described.random_baseline == 0.25


def test_jsonl_task_loads_and_bad_examples_name_their_index(tmp_path):
    good = tmp_path / "capitals.jsonl"
    good.write_text("\n".join(json.dumps(x) for x in [
        {"query": "The capital of France is", "choices": ["Paris", "Rome"], "gold": 0},
        {"query": "The capital of Italy is", "choices": ["Paris", "Rome"], "gold": [1]}]))
    task = jsonl_tasks.load(str(good), 10, 0)
    assert task.name == "capitals" and task.examples[1].gold == (1,)
    cloze = tmp_path / "cloze.json"
    cloze.write_text(json.dumps({"name": "sums", "target_delimiter": " ", "examples": [
        {"query": "Two plus two is", "continuation": "four"}]}))
    assert jsonl_tasks.load(str(cloze), 10, 0).kind == "cloze"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "q", "choices": ["a"], "gold": 0}) + "\n"
                   + json.dumps({"query": "q", "choices": ["a", "b"], "gold": 5}))
    with pytest.raises(tasks.TaskError, match="task 'bad' example 1: gold"):
        jsonl_tasks.load(str(bad), 10, 0)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"choices": ["a"], "gold": 0}))
    with pytest.raises(tasks.TaskError, match="task 'missing' example 0: missing string field"):
        jsonl_tasks.load(str(missing), 10, 0)


@pytest.fixture
def tiny_eval_config(wiki_slice, tmp_path):  # noqa: F811
    corpus, data_dir = wiki_slice
    task_file = tmp_path / "capitals.jsonl"
    task_file.write_text("\n".join(json.dumps(
        {"query": f"Country {i} capital:", "choices": [f"City {i}", f"Town {i}"], "gold": i % 2})
        for i in range(6)))
    config = micro_config("prefix_decoder")
    config.data.data_dir = data_dir
    config.eval.update(max_length=128, heldout_corpus=corpus, tasks=(
        "heldout:lambada", "heldout:description", "bigbench:cause_and_effect", str(task_file)))
    return config


def test_end_to_end_writes_results_json_and_markdown(tiny_eval_config, tmp_path):
    model, params = micro_model("prefix_decoder")
    results = evaluation.evaluate(model, params, tiny_eval_config, workdir=str(tmp_path), step=3)
    assert results["summary"]["failed_tasks"] == []
    names = list(results["tasks"])
    assert names[:2] == ["heldout:lambada", "heldout:description"] and "capitals" in names
    for name, r in results["tasks"].items():
        assert set(r["shots"]) == {0, 1}
        assert 0.0 <= r["shots"][0]["acc"] <= 1.0 and r["n"] <= 8
    assert "ppl" in results["tasks"]["heldout:lambada"]["shots"][0]
    for k in (0, 1):
        assert results["summary"]["normalized_acc"][k] is not None
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["tasks"]["capitals"]["n"] == 6 and written["step"] == 3
    table = (tmp_path / "results.md").read_text()
    assert "| cause_and_effect:two_sentences |" in table and "average normalised acc" in table
    assert os.listdir(tmp_path / "tensorboard")
    assert results["timing"]["requests"] > 0


def test_cli_evaluates_the_latest_checkpoint(tiny_eval_config, tmp_path):
    model, params = micro_model("prefix_decoder")
    trained = jax.tree.map(lambda x: x * 1.5, params)  # stands for the newest checkpoint
    for step, tree in ((7, trained), (2, params)):
        ocp.PyTreeCheckpointer().save(str(tmp_path / "checkpoints" / str(step) / "state"),
                                      {"params": tree})
    tiny_eval_config.eval.batch_size = 8  # the mesh spans conftest's 8 CPU devices
    scorer = evaluation.Evaluator(model, tiny_eval_config, tasks=[]).scorer
    loaded, source = cli.load_params(scorer, model, tiny_eval_config, str(tmp_path))
    assert source.endswith(os.path.join("checkpoints", "7"))
    jax.tree.map(np.testing.assert_array_equal, loaded, trained)
    results = cli.main(tiny_eval_config, str(tmp_path), tasks=tiny_eval_config.eval.tasks[3],
                       num_fewshot="0")
    assert results["shots"] == [0] and list(results["tasks"]) == ["capitals"]
    assert (tmp_path / "results.md").read_text().startswith("| task |")
