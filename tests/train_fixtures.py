"""Shared helpers of the training tests: a tiny run config on the real corpus slice, synthetic
batches, and a subprocess runner for the signal tests."""

import os
import subprocess
import sys

import numpy as np

from data_fixtures import data_test_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_run_config(wiki_slice, architecture="causal_decoder", **train):
    """The default tiny model on the wiki slice: rows of 64 tokens, batch 8, fast logging."""
    objective = {"causal_decoder": "full_lm"}.get(architecture, "prefix_lm")
    config = data_test_config(wiki_slice, architecture, objective, sequence_length=64, batch_size=8)
    config.model.max_length = 128
    config.train.update(dict(num_steps=6, log_every=1, eval_every=0), **train)
    config.checkpoint.save_every = 2
    return config


def synthetic_batch(batch_size=8, length=32, vocab_size=384, encoder_decoder=False, seed=0):
    """Random tokens with every T5X feature the models read (a prefix of 8 for prefix LM)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(3, vocab_size, (batch_size, length), dtype=np.int32)
    batch = {"decoder_input_tokens": np.roll(tokens, 1, axis=1), "decoder_target_tokens": tokens,
             "decoder_loss_weights": np.ones_like(tokens),
             "decoder_causal_attention": np.broadcast_to(
                 (np.arange(length) < 8).astype(np.int32), tokens.shape).copy()}
    if encoder_decoder:
        del batch["decoder_causal_attention"]
        batch["encoder_input_tokens"] = tokens[:, ::-1].copy()
    return batch


def start_training(workdir, wiki_slice, *overrides, devices=1):
    """`python -m t5x_style.train` on the tiny causal config in a subprocess (its own XLA flags)."""
    corpus, data_dir = wiki_slice
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="true", PYTHONPATH=REPO)
    args = [sys.executable, "-m", "t5x_style.train", "--config=configs/causal_decoder.py",
            f"--workdir={workdir}", f"--config.data.corpus={corpus}",
            f"--config.data.data_dir={data_dir}", "--config.data.sequence_length=64",
            "--config.data.batch_size=8", "--config.model.max_length=128",
            "--config.train.log_every=1", "--config.train.eval_every=0", *overrides]
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
