"""Prints continuations of prompts from a workdir's latest checkpoint.

    python -m t5x_style.generate --workdir=DIR --prompt="The capital of France" \
        [--prompt=...] [--max_new_tokens=64] [--temperature=0.8 --top_k=40 --top_p=0.95 --seed=0] \
        [--beam_size=4 --length_penalty=0.6] [--checkpoint_dir=DIR/checkpoints/1000]

The model and vocabulary come from DIR/config.json (written by training), the parameters from the
newest step under DIR/checkpoints (params-only restore). Temperature 0 (the default) is greedy;
beam_size > 1 runs beam search instead of sampling.
"""

import jax

from t5x_style import checkpoints
from t5x_style import decoding
from t5x_style import models
from t5x_style import run_dir
from t5x_style.data import tokenizer


def generate(workdir: str, prompts: list[str], max_new_tokens: int = 64,
             sampling: decoding.Sampling = decoding.GREEDY, beam_size: int = 1,
             length_penalty: float = 0.6, seed: int = 0, checkpoint_dir: str = "") -> list[str]:
    """The continuation of each prompt, as text."""
    config = run_dir.read_config(workdir)
    model = models.build_model(config)
    vocabulary = tokenizer.get_vocabulary(config.data.vocabulary, config.data.extra_ids)
    decoder = decoding.Decoder(model, eos_id=vocabulary.eos_id)
    prompt_ids = [vocabulary.encode(prompt) for prompt in prompts]
    # Check the request before reading the checkpoint (raises on bad input).
    decoder.check_prompts(prompt_ids, max_new_tokens)
    abstract = jax.eval_shape(model.init_params, jax.random.key(0))
    step_directory = checkpoint_dir or run_dir.latest_step_directory(workdir)
    if step_directory is None:
        raise FileNotFoundError(f"no checkpoint under {workdir}/checkpoints; train first or pass "
                                "--checkpoint_dir")
    params = checkpoints.restore_params(step_directory, abstract)
    if beam_size > 1:
        decoded = decoder.beam_search(params, prompt_ids, max_new_tokens, beam_size, length_penalty)
    else:
        decoded = decoder.generate(params, prompt_ids, max_new_tokens, sampling,
                                   jax.random.key(seed))
    return [vocabulary.decode(ids) for ids in decoded.sequences()]


def main(argv) -> None:
    del argv
    sampling = decoding.Sampling(FLAGS.temperature, FLAGS.top_k, FLAGS.top_p)
    if FLAGS.beam_size < 1:
        raise ValueError(f"--beam_size={FLAGS.beam_size} must be >= 1 (1: no beam search)")
    continuations = generate(FLAGS.workdir, FLAGS.prompt, FLAGS.max_new_tokens, sampling,
                             FLAGS.beam_size, FLAGS.length_penalty, FLAGS.seed,
                             FLAGS.checkpoint_dir)
    for prompt, continuation in zip(FLAGS.prompt, continuations):
        print(f"{prompt}{continuation}")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("workdir", None, "Training run directory (config.json, checkpoints/).")
    flags.DEFINE_multi_string("prompt", None, "Text to continue; repeat for a batch.")
    flags.DEFINE_integer("max_new_tokens", 64, "Most tokens generated per prompt (EOS stops).")
    flags.DEFINE_float("temperature", 0.0, "0: greedy; > 0: sample from logits / temperature.")
    flags.DEFINE_integer("top_k", 0, "Sample among the k most likely tokens; 0: all.")
    flags.DEFINE_float("top_p", 1.0, "Sample within the top_p probability nucleus; 1: all.")
    flags.DEFINE_integer("seed", 0, "Sampling seed.")
    flags.DEFINE_integer("beam_size", 1, "> 1: beam search with this many beams.")
    flags.DEFINE_float("length_penalty", 0.6, "Beam search: score = log-prob / ((5 + len) / 6)^a.")
    flags.DEFINE_string("checkpoint_dir", "", "A checkpoint step directory instead of the latest.")
    flags.mark_flags_as_required(["workdir", "prompt"])
    FLAGS = flags.FLAGS
    app.run(main)
