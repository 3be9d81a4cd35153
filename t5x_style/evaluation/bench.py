"""Scoring throughput: requests/s of a fresh model on a few real tasks, and the fraction of
scoring time spent outside the jitted function (target: under 10%).

    python -m t5x_style.evaluation.bench [--size=tiny] [--shots=0,5] [--max_items=100]

Each shot count is evaluated twice with one Evaluator; the second pass is timed, so compilation
(once per bucket shape) is excluded. Requests are (context, choice) pairs, two to four per item.
"""

import argparse
import time

import jax

from t5x_style import config as config_lib
from t5x_style.evaluation.evaluator import Evaluator
from t5x_style.models import build_model

TASKS = ("heldout:lambada", "heldout:description", "bigbench:hyperbaton",
         "bigbench:cause_and_effect")


def bench(architecture: str, size: str, shots: int, max_items: int, max_length: int,
          batch_size: int) -> dict:
    config = config_lib.default_config()
    config.model = config_lib.model_config(architecture, size)
    config.eval.update(tasks=TASKS, max_items=max_items, max_length=max_length,
                       batch_size=batch_size, shots=(shots,))
    model = build_model(config)
    evaluator = Evaluator(model, config)
    params = model.init_params(jax.random.key(0))
    started = time.perf_counter()
    evaluator(params)  # compiles every bucket
    first = time.perf_counter() - started
    timing = evaluator(params)["timing"]
    return {"architecture": architecture, "shots": shots, "first_pass_s": first, **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--shots", default="0,5")
    parser.add_argument("--max_items", type=int, default=100)
    parser.add_argument("--max_length", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--architectures", default=",".join(config_lib.ARCHITECTURES))
    args = parser.parse_args()
    print(f"{jax.devices()[0].platform} x{jax.device_count()}, model size {args.size}, "
          f"max_length {args.max_length}, batch {args.batch_size}, tasks {list(TASKS)}")
    for architecture in args.architectures.split(","):
        for shots in (int(k) for k in args.shots.split(",")):
            r = bench(architecture, args.size, shots, args.max_items, args.max_length,
                      args.batch_size)
            print(f"{architecture:16s} {shots}-shot: {r['requests']} requests, "
                  f"{r['requests_per_second']:.1f} req/s (compiled), "
                  f"{r['outside_jit_fraction']:.1%} outside jit; first pass "
                  f"{r['first_pass_s']:.1f} s with compilation", flush=True)


if __name__ == "__main__":
    main()
