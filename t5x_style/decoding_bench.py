"""Decoding speed: KV-cached vs uncached greedy decoding as the length grows, and the cost of each
turn of a multi-turn conversation per architecture (the cache-reuse argument for decoders).

    python -m t5x_style.decoding_bench [--size=tiny] [--lengths=32,64,128,256,512] [--batch=1]

Random parameters (speed does not depend on them); EOS never stops a row. Every timing is the
best of three runs of an already compiled function. Uncached decoding runs the training forward
pass over the whole (fixed-width) sequence at every step, inside one jitted loop.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from t5x_style import config as config_lib
from t5x_style import decoding
from t5x_style import models

NO_EOS = -1  # An id no token has: rows never stop early.


def build(architecture: str, size: str, max_length: int):
    config = config_lib.default_config()
    config.model = config_lib.model_config(architecture, size)
    config.model.max_length = max_length
    model = models.build_model(config)
    return model, jax.jit(model.init_params)(jax.random.key(0))


def uncached_greedy_fn(model, prompt_length: int, new_tokens: int):
    """Greedy decoding by re-running `Model.logits` over the whole sequence at each step."""

    def features(tokens, last):
        real = (jnp.arange(tokens.shape[1]) <= last).astype(jnp.int32) + 0 * tokens
        return dict(decoder_input_tokens=tokens, decoder_target_tokens=real,
                    decoder_loss_weights=real,
                    decoder_causal_attention=(jnp.arange(tokens.shape[1]) <= prompt_length)
                    .astype(jnp.int32) + 0 * tokens)

    @jax.jit
    def run(params, prompts):
        batch = prompts.shape[0]
        if model.is_encoder_decoder:
            tokens, offset = jnp.zeros((batch, new_tokens), jnp.int32), 0
        else:
            tokens = jnp.zeros((batch, 1 + prompt_length + new_tokens), jnp.int32)
            tokens, offset = tokens.at[:, 1:1 + prompt_length].set(prompts), prompt_length

        def step(i, tokens):
            last = offset + i
            inputs = features(tokens, last)
            if model.is_encoder_decoder:
                inputs["encoder_input_tokens"] = prompts
            logits = model.logits(params, inputs)[:, last]
            token = jnp.argmax(logits[:, 1:], axis=-1) + 1
            return tokens.at[:, jnp.minimum(last + 1, tokens.shape[1] - 1)].set(token)

        return jax.lax.fori_loop(0, new_tokens, step, tokens)

    return run


def timed(fn, *args, repeats: int = 3) -> float:
    """Best of `repeats` runs after a compiling one (the CPU is shared: the minimum is the cost)."""
    jax.block_until_ready(fn(*args))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def length_sweep(size: str, lengths: list[int], batch: int, architectures: list[str]) -> None:
    prompt_length = 16
    print(f"\n## Greedy tokens/s, cached vs uncached ({size}, batch {batch}, prompt "
          f"{prompt_length}, total length L)\n")
    print("| architecture | L | cached tok/s | uncached tok/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for architecture in architectures:
        model, params = build(architecture, size, max(lengths))
        decoder = decoding.Decoder(model, eos_id=NO_EOS)
        for length in lengths:
            new_tokens = length - 1 - prompt_length
            prompts = np.random.default_rng(0).integers(3, 250, (batch, prompt_length)).tolist()
            cached = timed(lambda: decoder.greedy(params, prompts, new_tokens).tokens)
            uncached = timed(uncached_greedy_fn(model, prompt_length, new_tokens), params,
                             jnp.asarray(prompts, jnp.int32))
            rate = batch * new_tokens
            print(f"| {architecture} | {length} | {rate / cached:,.0f} | {rate / uncached:,.0f} | "
                  f"{uncached / cached:.1f}x |", flush=True)


def conversation_costs(size: str, turns: int, user_tokens: int, reply_tokens: int,
                       batch: int) -> None:
    cache_length = 1 + turns * (user_tokens + reply_tokens)
    print(f"\n## Seconds per turn of a {turns}-turn conversation ({size}, batch {batch}; each "
          f"turn {user_tokens} user tokens + {reply_tokens} generated)\n")
    print("| architecture | " + " | ".join(f"turn {t + 1}" for t in range(turns)) + " | total |")
    print("|---|" + "---:|" * (turns + 1))
    rows = [("causal_decoder", True), ("causal_decoder", False), ("prefix_decoder", False),
            ("encoder_decoder", False)]
    for architecture, reuse in rows:
        model, params = build(architecture, size, cache_length)
        decoder = decoding.Decoder(model, eos_id=NO_EOS)
        user = np.random.default_rng(1).integers(3, 250, (turns, batch, user_tokens)).tolist()

        def converse():
            conversation = decoder.conversation(params, batch, cache_length)
            conversation.reuses_cache = reuse and conversation.reuses_cache
            seconds = []
            for turn in user:
                start = time.perf_counter()
                conversation.turn(turn, reply_tokens)
                seconds.append(time.perf_counter() - start)
            return seconds

        converse()  # Compiles every turn's shapes.
        seconds = np.min([converse() for _ in range(3)], axis=0)  # Best of 3, turn by turn.
        name = architecture + (" (cache reused)" if reuse else " (re-prefill)"
                               if architecture == "causal_decoder" else "")
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in seconds) +
              f" | {sum(seconds):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=sorted(config_lib.SIZES))
    parser.add_argument("--lengths", default="32,64,128,256,512")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--architectures", default="causal_decoder",
                        help="Comma-separated, for the length sweep.")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--user_tokens", type=int, default=32)
    parser.add_argument("--reply_tokens", type=int, default=32)
    args = parser.parse_args()
    print(f"devices: {jax.devices()}")
    length_sweep(args.size, [int(n) for n in args.lengths.split(",")], args.batch,
                 args.architectures.split(","))
    conversation_costs(args.size, args.turns, args.user_tokens, args.reply_tokens, args.batch)


if __name__ == "__main__":
    main()
