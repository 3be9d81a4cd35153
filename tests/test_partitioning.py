"""Mesh construction, the logical-axis table and derived shardings, on 8 fake CPU devices."""

import jax
import jax.numpy as jnp
import optax
import pytest
from jax.sharding import PartitionSpec as P

from t5x_style import config as config_lib
from t5x_style import partitioning


def _mesh_config(**sizes):
    m = config_lib.mesh_config()
    m.update(sizes)
    return m


def test_minus_one_fills_the_remaining_devices():
    mesh = partitioning.make_mesh(_mesh_config(data=-1, fsdp=2, tensor=2))
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)


def test_one_device_mesh():
    mesh = partitioning.make_mesh(_mesh_config(), devices=jax.devices()[:1])
    assert mesh.devices.size == 1


@pytest.mark.parametrize("sizes, message", [
    (dict(data=3, fsdp=1, tensor=1), "multiply to 3, but there are 8 devices"),
    (dict(data=-1, fsdp=-1, tensor=1), "at most one may be -1"),
    (dict(data=-1, fsdp=3, tensor=1), "not divisible"),
])
def test_mesh_that_does_not_match_the_devices_is_an_error(sizes, message):
    with pytest.raises(ValueError, match=message):
        partitioning.make_mesh(_mesh_config(**sizes))


def test_parameters_get_fsdp_and_tensor_activations_keep_embed_whole():
    mesh = partitioning.make_mesh(_mesh_config(data=2, fsdp=2, tensor=2))
    specs = {"kernel": P("layers", "embed", "mlp"), "act": P("batch", "length", "embed"),
             "logits": P("batch", "length", "vocab")}
    shardings = partitioning.logical_to_sharding(specs, mesh)
    assert shardings["kernel"].spec == P(None, "fsdp", "tensor")
    assert shardings["act"].spec == P(("data", "fsdp"), None, None)
    assert shardings["logits"].spec == P(("data", "fsdp"), None, "tensor")


def test_optimizer_state_follows_parameters_and_replicates_factored_statistics():
    mesh = partitioning.make_mesh(_mesh_config(data=2, fsdp=4, tensor=1))
    params = {"dense": {"kernel": jnp.zeros((256, 512))}, "norm": {"scale": jnp.zeros((256,))}}
    specs = {"dense": {"kernel": P("embed", "mlp")}, "norm": {"scale": P("embed")}}
    param_shardings = partitioning.logical_to_sharding(specs, mesh)
    for optimizer, expect_kernel_state in ((optax.adamw(1e-3), P("fsdp", "tensor")),
                                           (optax.adafactor(1e-2), P())):
        opt_state = jax.eval_shape(optimizer.init, params)
        shardings = partitioning.optimizer_state_shardings(opt_state, params, param_shardings, mesh)
        flat = jax.tree_util.tree_flatten_with_path(shardings)[0]
        kernel_states = [s.spec for path, s in flat if "kernel" in jax.tree_util.keystr(path)]
        assert kernel_states and all(spec == expect_kernel_state for spec in kernel_states)


def test_global_batch_from_process_local_rows():
    mesh = partitioning.make_mesh(_mesh_config(data=4, fsdp=2))
    rows = {"decoder_target_tokens": jnp.arange(16 * 8, dtype=jnp.int32).reshape(16, 8)}
    batch = partitioning.global_batch(mesh, jax.tree.map(jax.device_get, rows))
    array = batch["decoder_target_tokens"]
    assert array.shape == (16, 8) and len(array.addressable_shards) == 8
    assert array.addressable_shards[0].data.shape == (2, 8)
    assert (jax.device_get(array) == rows["decoder_target_tokens"]).all()
