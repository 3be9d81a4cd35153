"""Optimizers and learning-rate schedules from the `train` config section (optax).

Two recipes:
  adafactor + rsqrt   T5X's default: Adafactor with factored second moments, no momentum, decay
                      rate 0.8, updates clipped at RMS 1 and scaled by the parameter's RMS; the
                      learning rate is constant for `warmup_steps`, then falls as 1/sqrt(step).
  adamw + cosine      the GPT recipe: linear warm-up, cosine decay, decoupled weight decay on
                      matrices only.
Both clip the gradient to a global L2 norm first (`grad_clip_norm`, 0 = off).
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import PartitionSpec

# The scanned layer axis is a stack of layers, not a dimension of the weight; it does not count
# when deciding whether a parameter is a matrix.
_STACK_AXES = ("layers",)


def make_schedule(t: ml_collections.ConfigDict) -> optax.Schedule:
    """step -> learning rate."""
    if t.schedule == "rsqrt":
        # T5X `constant * rsqrt_decay`: base / sqrt(max(step, warmup)), written with its peak value.
        def rsqrt(step):
            step = jnp.maximum(jnp.asarray(step, jnp.float32), t.warmup_steps)
            return t.learning_rate * jnp.sqrt(t.warmup_steps / step)
        return rsqrt
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=t.learning_rate, warmup_steps=t.warmup_steps,
        decay_steps=max(t.num_steps, t.warmup_steps + 1),
        end_value=t.learning_rate * t.end_learning_rate_ratio)


def matrix_mask(param_logical_axes):
    """True for parameters with two or more non-stack dimensions (kernels and embeddings)."""
    def is_matrix(spec: PartitionSpec) -> bool:
        return sum(name not in _STACK_AXES for name in spec) >= 2
    return jax.tree.map(is_matrix, param_logical_axes,
                        is_leaf=lambda x: isinstance(x, PartitionSpec))


def make_optimizer(t: ml_collections.ConfigDict,
                   param_logical_axes) -> optax.GradientTransformation:
    """The config's gradient transformation; `param_logical_axes` picks what AdamW decays."""
    schedule = make_schedule(t)
    if t.optimizer == "adafactor":
        core = optax.adafactor(learning_rate=schedule, decay_rate=0.8, clipping_threshold=1.0,
                               multiply_by_parameter_scale=True, momentum=None, factored=True)
    else:
        core = optax.adamw(learning_rate=schedule, b1=t.adam_b1, b2=t.adam_b2, eps=t.adam_eps,
                           weight_decay=t.weight_decay, mask=matrix_mask(param_logical_axes))
    if t.grad_clip_norm:
        return optax.chain(optax.clip_by_global_norm(t.grad_clip_norm), core)
    return core
