"""How big a study runs: the model shape, the token budget, the seeds and the eval subset.

Every arm of every study is one base config (`configs/*.py` semantics) with a scale applied, so
the same arm runs in a test (micro), on a laptop (quick, cpu) or on a TPU pod (tpu) unchanged.

    micro  tests: 4 steps of a 2-layer d32 model, 6 items per task; the numbers mean nothing
    quick  the README's first command: one seed, tiny models, ~10-15 min for arch_objective
    cpu    3 seeds so the spread between seeds is measured; ~30 min per study on 2 cores
    tpu    Wang et al. (2022): xxl, 626-token rows (span corruption 512 -> 114), batch 2048,
           131,072 steps = 168B tokens, Adafactor with T5's rsqrt schedule; configs only here
"""

import dataclasses

import ml_collections

from t5x_style import config as config_lib


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    size: str  # Row of config.SIZES the shape starts from.
    model: dict  # Model fields that override the size's (empty: the size as it is).
    sequence_length: int  # data.sequence_length (span corruption: the encoder inputs length).
    batch_size: int
    num_steps: int
    seeds: tuple[int, ...]  # One trained arm per seed; the spread between them is the noise.
    eval_every: int  # Held-out loss every this many steps: the points of the loss curves.
    eval_batches: int
    tasks: tuple[str, ...]  # Zero/few-shot tasks (evaluation task names).
    shots: tuple[int, ...]
    max_items: int  # Scored items per task.
    eval_max_length: int  # Longest scored row; few-shot contexts are truncated from the left.
    probe_items: int  # Held-out texts of the probes (attention rank, word order).
    num_microbatches: int = 1
    data: tuple[tuple[str, str], ...] = ()  # data.* fields (default: embedded corpus, bytes).

    @property
    def tokens_per_arm(self) -> int:
        """Rows x row length x steps: the training-token budget of one arm (decoder rows)."""
        return self.num_steps * self.batch_size * self.sequence_length


_CPU_EVAL = dict(tasks=("heldout:lambada", "heldout:description", "bigbench:hyperbaton",
                        "bigbench:cause_and_effect"),
                 shots=(0, 1, 3), eval_max_length=512)

SCALES = {
    "micro": Scale("micro", "tiny", dict(d_model=32, num_heads=2, head_dim=16, d_ff=64),
                   sequence_length=32, batch_size=8, num_steps=4, seeds=(0,), eval_every=2,
                   eval_batches=1, tasks=("heldout:lambada", "heldout:description"), shots=(0, 1),
                   max_items=6, eval_max_length=128, probe_items=2),
    # Two tiny layers unrolled (same function and parameters): 1.3x faster steps on CPU.
    "quick": Scale("quick", "tiny", dict(scan_unroll=2), sequence_length=128, batch_size=16,
                   num_steps=200, seeds=(0,), eval_every=25, eval_batches=4, max_items=50,
                   probe_items=8,
                   **(_CPU_EVAL | dict(shots=(0, 1)))),
    "cpu": Scale("cpu", "tiny", dict(scan_unroll=2), sequence_length=128, batch_size=16,
                 num_steps=400, seeds=(0, 1, 2), eval_every=50, eval_batches=4, max_items=100,
                 probe_items=16,
                 **_CPU_EVAL),
    "tpu": Scale("tpu", "xxl", {}, sequence_length=626, batch_size=2048, num_steps=131_072,
                 seeds=(0,), eval_every=2000, eval_batches=16,
                 tasks=("bigbench:t0", "bigbench:extra", "heldout:lambada"), shots=(0, 1, 5),
                 max_items=500, eval_max_length=1024, probe_items=64, num_microbatches=8,
                 data=(("corpus", "c4/en:3.1.0"),
                       ("vocabulary", "gs://t5-data/vocabs/cc_all.32000.100extra/"
                                      "sentencepiece.model"))),
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise ValueError(f"scale={name!r} is not known; allowed: {sorted(SCALES)}")
    return SCALES[name]


def apply(config: ml_collections.ConfigDict, scale: Scale, seed: int) -> None:
    """Sets the shape, budget, seeds and eval subset of `scale` on an unlocked config."""
    architecture = config.model.architecture
    config.model.update(config_lib.model_config(architecture, scale.size).to_dict())
    config.model.update(scale.model)
    d = config.data
    # Span corruption: T5's inputs 512 -> targets 114 (decoders read 626); so at TPU scale every
    # objective's rows are 626 tokens long, as in Wang et al.
    d.sequence_length = (512 if d.objective == "span_corruption" and scale.name == "tpu"
                         else scale.sequence_length)
    d.batch_size, d.seed = scale.batch_size, seed
    d.update(dict(scale.data))
    config.seed = seed
    config.model.max_length = max(2 * scale.sequence_length, scale.eval_max_length)
    config.train.update(num_steps=scale.num_steps, eval_every=scale.eval_every,
                        eval_batches=scale.eval_batches, log_every=min(10, scale.num_steps),
                        num_microbatches=scale.num_microbatches)
    config.checkpoint.update(save_every=scale.eval_every * 2, keep=1)
    config.eval.update(tasks=scale.tasks, shots=scale.shots, max_items=scale.max_items,
                       max_length=scale.eval_max_length, batch_size=16,
                       bootstrap_iters=200 if scale.name != "tpu" else 1000)
