"""The cost of each turn of a multi-turn conversation, per architecture (`t5x_style.decoding`).

A causal decoder keeps its KV cache across turns and runs only the new tokens; a non-causal decoder
must re-read the whole history bidirectionally (its prefix changes every turn), and so must an
encoder-decoder's encoder. So the work per turn stays flat for the first and grows with the
history for the others. Models are the arch_objective shapes at this scale with random weights
(the cost does not depend on them); replies are forced to full length (no EOS stop).
"""

import time

import jax
import numpy as np

from t5x_style import decoding
from t5x_style.experiments import arch_objective
from t5x_style.experiments import report as report_lib
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner
from t5x_style.models import build_model

NO_EOS = -1  # No token has this id, so every reply runs to max_new_tokens.
TURNS = 4
REPEATS = 3  # Timed conversations per architecture (after one that compiles); the median is kept.
ARCHITECTURES = {  # label -> the arch_objective arm whose shape it takes
    "causal_decoder": "causal_decoder-full_lm",
    "prefix_decoder": "prefix_decoder-prefix_lm",
    "encoder_decoder": "encoder_decoder-prefix_lm",
}
ARMS = {}  # Nothing is trained.
SUMMARY = __doc__


def tokens_read(architecture: str, turn: int, user: int, reply: int) -> int:
    """Tokens a turn (1-based) feeds through the model: prefill plus one per generated token."""
    if architecture == "causal_decoder":
        return user + reply
    return turn * user + (turn - 1) * reply + reply  # The whole history again, then the reply.


def turn_seconds(decoder: decoding.Decoder, params, user_turns: list, reply: int,
                 cache_length: int) -> list[float]:
    """Wall seconds of each turn of one conversation."""
    conversation = decoder.conversation(params, len(user_turns[0]), cache_length)
    seconds = []
    for turn in user_turns:
        start = time.perf_counter()
        jax.block_until_ready(conversation.turn(turn, reply).tokens)
        seconds.append(time.perf_counter() - start)
    return seconds


def run(runner: Runner, report: Report) -> None:
    scale = runner.scale
    user = reply = max(4, scale.sequence_length // 8)
    cache_length = 1 + TURNS * (user + reply)
    rows, results = [], {}
    for label, arm_name in ARCHITECTURES.items():
        config = runner.config(arch_objective.ARMS[arm_name], scale.seeds[0])
        model = build_model(config)
        params = model.init_params(jax.random.key(0))
        decoder = decoding.Decoder(model, eos_id=NO_EOS)
        user_turns = np.random.default_rng(0).integers(3, 250, (TURNS, 1, user)).tolist()
        turn_seconds(decoder, params, user_turns, reply, cache_length)  # Compiles every shape.
        timed = np.median([turn_seconds(decoder, params, user_turns, reply, cache_length)
                           for _ in range(REPEATS)], axis=0)
        reads = [tokens_read(label, t, user, reply) for t in range(1, TURNS + 1)]
        results[label] = dict(seconds=timed.tolist(), tokens_read=reads)
        rows.append([label] + [f"{s * 1000:.1f} ms / {n}" for s, n in zip(timed, reads)]
                    + [f"{timed.sum() * 1000:.1f} ms"])
    report.section(
        "Cost per turn",
        report_lib.table(["architecture"] + [f"turn {t}: time / tokens read"
                                             for t in range(1, TURNS + 1)] + ["total"], rows),
        f"Batch 1; each turn {user} user tokens + {reply} generated; median of {REPEATS} "
        f"conversations after one that compiles, on {jax.devices()[0].platform}. Tokens read = "
        "prefill + generated tokens the model runs this turn. At these tiny sizes dispatch "
        "overhead dominates the time; the token counts are what grows with the model.")
    steps = list(range(1, TURNS + 1))
    report.section("Time per turn", report.plot(
        "kv_cache_turns.png", "seconds per conversation turn", "turn", "seconds",
        {label: (steps, r["seconds"]) for label, r in results.items()}))
    report.results.update(scale=scale.name, user_tokens=user, reply_tokens=reply,
                          turns=results)
