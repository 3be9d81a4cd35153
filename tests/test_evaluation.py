"""Evaluation mechanics: scores per architecture against an independent log-softmax, padding and
batch invariance, the whitespace move, left truncation, few-shot prompts, metric arithmetic."""

import functools
import math

import jax
import numpy as np
import pytest

from t5x_style import config as config_lib
from t5x_style import models, partitioning
from t5x_style.data import tokenizer
from t5x_style.evaluation import report, tasks
from t5x_style.evaluation import requests as requests_lib
from t5x_style.evaluation.scoring import Scorer

ARCHITECTURES = config_lib.ARCHITECTURES
BYTES = tokenizer.get_vocabulary("byte", 100)


def micro_config(architecture: str):
    """A narrow model, faster than `tiny`, with the byte vocabulary; two layers, so context
    positions' bidirectional states reach the continuation."""
    config = config_lib.default_config()
    config.model.update(architecture=architecture, d_model=32, num_heads=2, head_dim=16, d_ff=64,
                        num_layers=2, max_length=128)
    config.eval.update(max_length=64, batch_size=4, max_items=8, shots=(0, 1),
                       bootstrap_iters=200)
    return config


@functools.lru_cache(maxsize=None)
def micro_model(architecture: str):
    model = models.build_model(micro_config(architecture))
    return model, model.init_params(jax.random.key(1))


@functools.lru_cache(maxsize=None)
def jitted(architecture: str, method: str):
    return jax.jit(getattr(micro_model(architecture)[0], method))


def token_request(context: str, continuation: str, architecture: str, max_length: int = 64):
    return requests_lib.tokenize([requests_lib.Request(context, continuation)], BYTES,
                                 architecture, max_length)[0]


PAIRS = [("The cat sat on the", " mat"), ("Q: two plus two?\nA: ", "four"),
         ("", "Hello"), ("x" * 40, " yz"), ("A long context " * 8, " end")]


def hand_batch(token_requests, architecture, length=None):
    """Features built here, not by the training converters: rows right-padded to `length`
    (default: the longest row; then a single request is exactly unpadded)."""
    rows = []
    for request in token_requests:
        context, continuation = list(request.context), list(request.continuation)
        if architecture == "encoder_decoder":
            rows.append({"encoder_input_tokens": context,
                         "decoder_target_tokens": continuation,
                         "decoder_input_tokens": [0] + continuation[:-1],
                         "decoder_loss_weights": [1] * len(continuation)})
            continue
        row = context + continuation
        rows.append({"decoder_target_tokens": row, "decoder_input_tokens": [0] + row[:-1],
                     "decoder_loss_weights": [int(t >= len(context)) for t in range(len(row))],
                     "decoder_causal_attention": [int(bool(context) and t <= len(context))
                                                  for t in range(len(row))]})
    batch = {}
    for name in rows[0]:
        width = length or max(1, max(len(r[name]) for r in rows))
        batch[name] = np.array([r[name] + [0] * (width - len(r[name])) for r in rows], np.int32)
    return batch


def numpy_scores(logits, batch):
    """Summed log-softmax of the targets under the weights, and greedy match, in float64 numpy."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    targets, weights = batch["decoder_target_tokens"], batch["decoder_loss_weights"]
    picked = np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    greedy = np.where(weights > 0, logits.argmax(-1) == targets, True).all(-1)
    return (picked * weights).sum(-1), greedy


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_scores_equal_direct_log_softmax_and_score_batch(architecture):
    model, params = micro_model(architecture)
    token_requests = [token_request(c, x, architecture) for c, x in PAIRS]
    scores, greedy = Scorer(model, 4, 64).score(params, token_requests)
    batch = hand_batch(token_requests, architecture)
    expected, expected_greedy = numpy_scores(jitted(architecture, "logits")(params, batch), batch)
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    np.testing.assert_allclose(scores, jitted(architecture, "score_batch")(params, batch), atol=1e-4)
    np.testing.assert_array_equal(greedy, expected_greedy)
    assert np.all(scores < 0)


def test_causal_score_is_sum_of_token_logprobs_of_the_concatenation():
    model, params = micro_model("causal_decoder")
    context, continuation = "Once upon a", " time"
    text_ids = BYTES.encode(context + continuation)
    full = {"decoder_target_tokens": np.array([text_ids], np.int32),
            "decoder_input_tokens": np.array([[0] + text_ids[:-1]], np.int32),
            "decoder_loss_weights": np.ones((1, len(text_ids)), np.int32)}
    per_token = np.asarray(jitted("causal_decoder", "token_log_likelihoods")(params, full))[0]
    expected = per_token[len(BYTES.encode(context)):].sum()
    score, _ = Scorer(model, 4, 64).score(params, [token_request(context, continuation,
                                                                  "causal_decoder")])
    assert score[0] == pytest.approx(float(expected), abs=1e-4)


def test_prefix_decoder_reads_the_context_bidirectionally():
    """Changing the first context token changes the prefix decoder's view of later context
    tokens; the score must use that (so it differs from the causal score of the same params)."""
    cd, params = micro_model("causal_decoder")
    nd = models.build_model(micro_config("prefix_decoder"))
    request = token_request("Some context here", " and more", "prefix_decoder")
    causal, _ = Scorer(cd, 4, 64).score(params, [request])
    prefix, _ = Scorer(nd, 4, 64).score(params, [request])  # same parameter tree
    assert abs(causal[0] - prefix[0]) > 1e-4


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_padding_and_batch_composition_do_not_change_scores(architecture):
    model, params = micro_model(architecture)
    target = token_request("The quick brown fox", " jumps", architecture)
    others = [token_request(c, x, architecture) for c, x in PAIRS]
    scorer = Scorer(model, 4, 64)  # one scorer: the same bucket shapes, compiled once
    alone, _ = scorer.score(params, [target])
    mixed, _ = scorer.score(params, others[:2] + [target] + others[2:])
    reordered, _ = scorer.score(params, [target] + others[::-1])
    unpadded = float(jitted(architecture, "score_batch")(params, hand_batch([target], architecture))[0])
    assert alone[0] == pytest.approx(unpadded, abs=1e-4)
    assert mixed[2] == pytest.approx(alone[0], abs=1e-4)
    assert reordered[0] == pytest.approx(alone[0], abs=1e-4)


def test_sharded_scorer_matches_single_device():
    model, params = micro_model("prefix_decoder")
    config = micro_config("prefix_decoder")
    mesh = partitioning.make_mesh(config.mesh)  # the 8 fake CPU devices of conftest
    token_requests = [token_request(c, x, "prefix_decoder") for c, x in PAIRS[:3]]
    plain, _ = Scorer(model, 8, 64).score(params, token_requests)
    scorer = Scorer(model, 8, 64, mesh)
    sharded, _ = scorer.score(scorer.place(params), token_requests)
    np.testing.assert_allclose(sharded, plain, atol=1e-4)


def test_whitespace_moves_from_context_to_continuation():
    assert requests_lib.move_whitespace("Q: 2+2\nA: ", "4") == ("Q: 2+2\nA:", " 4")
    assert requests_lib.move_whitespace("one\n\n", "two") == ("one", "\n\ntwo")
    assert requests_lib.move_whitespace("no space", " x") == ("no space", " x")
    context, continuation = requests_lib.encode_pair(BYTES, "Answer: ", "yes")
    assert BYTES.decode(context) == "Answer:" and BYTES.decode(continuation) == " yes"


def test_pair_encoding_splits_the_whole_encoding(tmp_path):
    texts = ["The cat sat on the mat and the dog sat on the log."] * 50 + [
        "Paris is the capital of France. Rome is the capital of Italy."] * 50
    model_path = tokenizer.train_sentencepiece(texts, str(tmp_path / "spm"), vocab_size=286)
    vocabulary = tokenizer.get_vocabulary(model_path, 0)
    context, continuation = requests_lib.encode_pair(vocabulary, "The capital of France is ",
                                                     "Paris.")
    assert context + continuation == vocabulary.encode("The capital of France is Paris.")
    assert context == vocabulary.encode("The capital of France is")


def test_left_truncation_keeps_the_end_of_the_context():
    context, continuation = list(range(10, 30)), [7, 8, 9]
    decoder = requests_lib.truncate(context, continuation, "causal_decoder", 8)
    assert decoder.context == tuple(range(25, 30)) and decoder.truncated == 15
    assert decoder.continuation == (7, 8, 9)
    encdec = requests_lib.truncate(context, continuation, "encoder_decoder", 8)
    assert encdec.context == tuple(range(22, 30)) and encdec.truncated == 12
    fits = requests_lib.truncate(context[:5], continuation, "prefix_decoder", 8)
    assert fits.context == tuple(context[:5]) and fits.truncated == 0
    with pytest.raises(requests_lib.RequestTooLongError, match="max_length=2"):
        requests_lib.truncate(context, continuation, "causal_decoder", 2)


def test_truncated_request_scores_as_the_truncated_text():
    model, params = micro_model("causal_decoder")
    long_context = "".join(f"word{i} " for i in range(30))  # 210 bytes > max_length 64
    truncated = token_request(long_context, "end", "causal_decoder")
    kept = BYTES.decode(truncated.context)
    assert truncated.truncated > 0 and long_context.rstrip().endswith(kept)
    direct = token_request(kept, " end", "causal_decoder")
    scores, _ = Scorer(model, 4, 64).score(params, [truncated, direct])
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)


def test_buckets_are_powers_of_two_capped_at_max_length():
    assert [requests_lib.bucket_length(n, 100) for n in (1, 16, 17, 33, 64, 65, 100)] == \
        [16, 16, 32, 64, 64, 100, 100]


def test_rolling_windows_cover_every_token_once_and_score_like_one_row():
    tokens = list(range(3, 40))
    windows = requests_lib.rolling_windows(tokens, 16, context_length=1)
    assert sum((list(w.continuation) for w in windows), []) == tokens
    assert all(len(w.context) + len(w.continuation) <= 16 for w in windows)
    assert windows[1].context == (tokens[15],)
    model, params = micro_model("causal_decoder")
    scorer = Scorer(model, 4, 64)
    text = "A short document that fits in one window."
    rolling = scorer.loglikelihood_rolling(params, BYTES, [text])
    whole, _ = scorer.score(params, [requests_lib.TokenRequest((), tuple(BYTES.encode(text)))])
    assert rolling["log_likelihood"] == pytest.approx(whole[0], abs=1e-4)
    assert rolling["bits_per_byte"] == pytest.approx(-whole[0] / math.log(2) / len(text))


def toy_task(n=12, **kwargs):
    examples = [tasks.Example(f"Question {i}: colour of sky {i}?", (f"blue{i}", f"red{i}"), (0,))
                for i in range(n)]
    return tasks.Task(name="toy", kind="multiple_choice", examples=examples,
                      fewshot_pool=examples, **kwargs)


def test_fewshot_prompts_are_deterministic_and_never_hold_the_scored_example():
    task = toy_task()
    task.fewshot_pool = task.fewshot_pool + [task.examples[3]]  # a duplicate of item 3
    for i, example in enumerate(task.examples):
        context = tasks.fewshot_context(task, i, 5, seed=1234)
        assert context.count(example.query) == 1 and context.endswith(example.query)
        assert context.count("\n\n") == 5
        demos = tasks.demonstrations(task, i, 5, 1234)
        assert example not in demos and len(set(demos)) == 5
        assert context == tasks.fewshot_context(task, i, 5, seed=1234)
    prompts = [tasks.fewshot_context(task, i, 5, 1234) for i in range(12)]
    assert prompts != [tasks.fewshot_context(task, i, 5, 1235) for i in range(12)]
    # Per-example seeding: the prompt of item 0 does not depend on the other scored items.
    smaller = toy_task()
    smaller.examples = smaller.examples[:1]
    assert tasks.fewshot_context(smaller, 0, 5, 1234) == prompts[0]


def test_fewshot_layout_follows_the_harness():
    task = toy_task(n=3, description="Answer. ")
    requests = tasks.build_requests(task, shots=1, seed=1234)
    demo = tasks.demonstrations(task, 0, 1, 1234)[0]
    expected = "Answer. " + demo.query + " " + demo.choices[0] + "\n\n" + task.examples[0].query
    assert requests[0][0] == tasks.Request(expected, " blue0")
    assert requests[0][1].continuation == " red0"
    with pytest.raises(tasks.TaskError, match="example 0: 3 shots"):
        tasks.fewshot_context(task, 0, 3, 1234)


def test_acc_and_acc_norm_on_a_hand_checked_case():
    lls = [np.array([-4.0, -6.0]), np.array([-3.0, -1.0]), np.array([-9.0, -10.0, -2.5])]
    choices = [("ab", "abcdef"), ("x", "y"), ("aaaaaaaaa", "bbbbbbbbbb", "c")]
    gold = [(1,), (0,), (0, 1)]
    # item 0: acc picks 0 (wrong); norm -2 vs -1 picks 1 (right). item 1: acc picks 1 (wrong),
    # norm picks 1 (wrong). item 2: acc picks 2 (wrong); norm -1, -1, -2.5 picks 0 (right).
    metrics = report.choice_metrics(lls, choices, gold)
    np.testing.assert_array_equal(metrics["acc"], [0, 0, 0])
    np.testing.assert_array_equal(metrics["acc_norm"], [1, 0, 1])
    summary = report.summarize(metrics, iters=100)
    assert summary["acc_norm"] == pytest.approx(2 / 3)


def test_bootstrap_stderr_matches_the_binomial_formula():
    values = np.array([1.0] * 300 + [0.0] * 700)
    assert report.bootstrap_stderr(values, 2000) == pytest.approx(math.sqrt(0.21 / 1000), rel=0.1)


def test_random_baseline_and_normalised_average():
    assert toy_task().random_baseline == 0.5
    assert report.normalized(0.75, 0.5) == 0.5 and report.normalized(0.25, 0.25) == 0.0
    results = {
        "two_way": {"group": "two_way", "random": 0.5, "shots": {0: {"acc": 0.75}}},
        "four:a": {"group": "four", "random": 0.25, "shots": {0: {"acc": 0.25}}},
        "four:b": {"group": "four", "random": 0.25, "shots": {0: {"acc": 1.0}}},
    }
    summary = report.aggregate(results)
    # four = mean over subtasks: acc 0.625, normalised (0 + 1) / 2 = 0.5; then over tasks.
    assert summary["normalized_acc"][0] == pytest.approx((0.5 + 0.5) / 2)
    assert summary["acc"][0] == pytest.approx((0.75 + 0.625) / 2)
    failed = report.aggregate({**results, "broken": {"group": "broken", "error": "bad"}})
    assert failed["normalized_acc"][0] is None and failed["failed_tasks"] == ["broken"]


def test_bad_examples_fail_naming_task_and_index():
    with pytest.raises(tasks.TaskError, match="task 'bad' example 1: gold"):
        tasks.Task(name="bad", kind="multiple_choice", fewshot_pool=[], examples=[
            tasks.Example("q", ("a", "b"), (0,)), tasks.Example("q2", ("a", "b"), (2,))])
    with pytest.raises(tasks.TaskError, match="no examples"):
        tasks.Task(name="empty", kind="cloze", examples=[], fewshot_pool=[])
