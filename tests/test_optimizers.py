"""Learning-rate schedules, the weight-decay mask and that both optimizers descend."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from t5x_style import config as config_lib
from t5x_style import optimizers


def _train_config(**fields):
    t = config_lib.train_config()
    t.update(fields)
    return t


def test_rsqrt_is_constant_through_warmup_then_falls_as_one_over_sqrt_step():
    schedule = optimizers.make_schedule(_train_config(schedule="rsqrt", learning_rate=0.01,
                                                      warmup_steps=100))
    np.testing.assert_allclose([schedule(s) for s in (0, 50, 100, 400)],
                               [0.01, 0.01, 0.01, 0.005], rtol=1e-6)


def test_cosine_warms_up_linearly_and_ends_at_the_floor():
    schedule = optimizers.make_schedule(_train_config(
        schedule="cosine", learning_rate=1e-3, warmup_steps=10, num_steps=110,
        end_learning_rate_ratio=0.1))
    np.testing.assert_allclose([schedule(0), schedule(5), schedule(10), schedule(110)],
                               [0.0, 5e-4, 1e-3, 1e-4], rtol=1e-5, atol=1e-9)


def test_weight_decay_only_on_matrices_stacked_layers_do_not_count():
    axes = {"kernel": P("layers", "embed", "mlp"), "scale": P("layers", "embed"),
            "embedding": P("vocab", "embed")}
    assert optimizers.matrix_mask(axes) == {"kernel": True, "scale": False, "embedding": True}


@pytest.mark.parametrize("name, schedule, lr", [("adafactor", "rsqrt", 0.1),
                                                ("adamw", "cosine", 0.05)])
def test_optimizer_descends_a_quadratic_with_clipping(name, schedule, lr):
    t = _train_config(optimizer=name, schedule=schedule, learning_rate=lr, warmup_steps=1,
                      num_steps=50, grad_clip_norm=0.5)
    params = {"kernel": jnp.full((4, 4), 3.0), "scale": jnp.full((4,), -2.0)}
    optimizer = optimizers.make_optimizer(t, {"kernel": P("embed", "mlp"), "scale": P("embed")})
    loss = lambda p: sum(jnp.sum(x**2) for x in jax.tree.leaves(p))
    state = optimizer.init(params)
    start = loss(params)
    for _ in range(50):
        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert loss(params) < 0.5 * start
