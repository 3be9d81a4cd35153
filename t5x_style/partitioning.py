"""Devices -> mesh, logical axis names -> mesh axes, and the shardings that `jax.jit` takes.

The mesh has three axes (DESIGN §4):
  data    plain data parallelism: the batch is split, parameters are replicated;
  fsdp    fully sharded data parallelism: the batch is split AND parameters/optimizer state
          are split along their 'embed' dimension (gathered just in time by XLA);
  tensor  tensor (model) parallelism: 'heads', 'mlp' and 'vocab' dimensions are split.
Each axis size may be `-1` (fill with the devices left over). For multi-slice runs the `dcn_*` sizes
say how many slices lie along each axis; the mesh is then ICI (within a slice) x DCN (across).

Models name every parameter and activation dimension logically ('batch', 'embed', 'mlp', ...);
`LOGICAL_AXIS_RULES` is the one table that maps those names onto the mesh. Rules are applied in
order and a mesh axis is used at most once per array, so an activation [batch, length, embed]
gets batch -> (data, fsdp) and leaves 'embed' whole, while a parameter [embed, mlp] gets
embed -> fsdp and mlp -> tensor: the FSDP layout.

Axis types are `AxisType.Auto` on purpose: `jax.make_mesh` defaults to Explicit axes, under which
Linen's logical sharding constraints do not apply (reference/stack.md).
"""

import math
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
# The mesh axes a batch is split over.
BATCH_AXES = ("data", "fsdp")

LOGICAL_AXIS_RULES = (
    ("batch", BATCH_AXES),  # first, so activations keep 'embed' whole (fsdp is taken by batch)
    ("embed", "fsdp"),  # parameters: FSDP shards the model dimension
    ("heads", "tensor"),
    ("mlp", "tensor"),
    ("vocab", "tensor"),
    ("kv", None),
    ("length", None),
    ("layers", None),  # the scanned layer axis: every device holds every layer's shard
    ("relpos_buckets", None),
    ("abspos", None),
)


def initialize_distributed(mesh_config: ml_collections.ConfigDict) -> None:
    """Joins the processes of a multi-host run (a no-op for single-process runs).

    With `coordinator_address` set, the three fields say everything; with `distributed=True`, JAX
    detects the cluster (TPU pod slice, SLURM, Open MPI) by itself.
    """
    if mesh_config.coordinator_address:
        jax.distributed.initialize(coordinator_address=mesh_config.coordinator_address,
                                   num_processes=mesh_config.num_processes,
                                   process_id=mesh_config.process_id)
    elif mesh_config.distributed:
        jax.distributed.initialize()


def _fill(sizes: Sequence[int], total: int, what: str) -> tuple[int, ...]:
    """Replaces one -1 in `sizes` so that their product is `total`; errors say what differs."""
    sizes = tuple(int(s) for s in sizes)
    named = dict(zip(MESH_AXES, sizes))
    if sizes.count(-1) > 1:
        raise ValueError(f"{what} axis sizes {named}: at most one may be -1")
    if any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"{what} axis sizes {named}: each must be a positive integer or -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if total % known:
            raise ValueError(f"{what} axis sizes {named}: {total} devices are not divisible by the "
                             f"fixed sizes' product {known}, so -1 cannot fill them")
        sizes = tuple(total // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != total:
        raise ValueError(f"{what} axis sizes {named} multiply to {math.prod(sizes)}, but there are "
                         f"{total} devices; change the sizes or set one to -1")
    return sizes


def make_mesh(mesh_config: ml_collections.ConfigDict, devices: Sequence | None = None) -> Mesh:
    """The ('data', 'fsdp', 'tensor') mesh over `devices` (default: every device of every
    process)."""
    devices = list(jax.devices() if devices is None else devices)
    dcn = tuple(mesh_config[f"dcn_{a}"] for a in MESH_AXES)
    num_slices = math.prod(dcn)
    if len(devices) % num_slices:
        raise ValueError(f"mesh.dcn_* asks for {num_slices} slices, but {len(devices)} devices do "
                         "not split evenly into them")
    ici = _fill([mesh_config[a] for a in MESH_AXES], len(devices) // num_slices, "mesh (per slice)")
    if num_slices == 1:
        device_array = mesh_utils.create_device_mesh(ici, devices)
    else:
        # Multi-slice TPUs number their slices; elsewhere (CPU/GPU hosts) a process is a slice.
        slices = {getattr(d, "slice_index", 0) for d in devices}
        device_array = mesh_utils.create_hybrid_device_mesh(
            ici, dcn, devices, process_is_granule=len(slices) != num_slices)
    return Mesh(device_array, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def logical_to_sharding(logical_specs, mesh: Mesh, rules=LOGICAL_AXIS_RULES):
    """A pytree of logical PartitionSpecs -> the same pytree of NamedShardings on `mesh`."""
    return nn.logical_to_mesh_sharding(logical_specs, mesh, rules)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Every batch feature is [batch, length]: rows split over the batch axes, length whole."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def compiler_options(mesh: Mesh, num_params: int) -> dict[str, bool]:
    """XLA options for the steps of a `num_params` model jitted over `mesh`. On CPU, the matmuls
    that contract over the token axis (every weight gradient, dX^T dY; attention's dK) go to
    oneDNN: YNNPACK, XLA:CPU's default, ran them at 137 GFLOP/s in bfloat16 and 141 in float32
    on a 2-core EPYC, oneDNN at 332 and 169 (`bench --preset=d4`: bfloat16 step 1.3-1.5x
    faster), with the same losses (tested). Not above 1B parameters: there the rewrite fails to
    compile xxl's step (RESOURCE_EXHAUSTED allocating a Literal), and no such model trains on a
    CPU; the compile-only check keeps XLA's default."""
    if mesh.devices.flat[0].platform != "cpu" or num_params > 1_000_000_000:
        return {}
    return {"xla_cpu_experimental_onednn_custom_call": True}


def batch_shards(mesh: Mesh) -> int:
    """How many ways a batch is split (the product of the batch axes)."""
    return math.prod(mesh.shape[a] for a in BATCH_AXES)


def _path_key(path) -> tuple[str, ...]:
    return tuple(str(k) for k in path)


def optimizer_state_shardings(abstract_opt_state, abstract_params, param_shardings, mesh: Mesh):
    """Shardings for an optax state, derived from the parameters' shardings.

    An optimizer-state leaf whose key path ends with a parameter's path and whose shape equals that
    parameter's (Adam's mu and nu, momentum) is sharded like the parameter. Everything else (step
    counts, Adafactor's factored row/column statistics, which are O(rows + cols)) is replicated.
    """
    by_path = {_path_key(path): (leaf.shape, sharding) for (path, leaf), sharding in zip(
        jax.tree_util.tree_flatten_with_path(abstract_params)[0],
        jax.tree_util.tree_leaves(param_shardings))}

    def sharding_for(path, leaf):
        key = _path_key(path)
        for start in range(len(key)):
            shape, sharding = by_path.get(key[start:], (None, None))
            if shape is not None:
                return sharding if shape == leaf.shape else replicated(mesh)
        return replicated(mesh)

    return jax.tree_util.tree_map_with_path(sharding_for, abstract_opt_state)


def describe(abstract_params, logical_specs, shardings) -> str:
    """One line per parameter: path, shape, dtype, logical axes, mesh axes (for model_info.txt)."""
    lines = []
    for (path, leaf), spec, sharding in zip(
            jax.tree_util.tree_flatten_with_path(abstract_params)[0],
            jax.tree_util.tree_leaves(logical_specs,
                                      is_leaf=lambda x: isinstance(x, PartitionSpec)),
            jax.tree_util.tree_leaves(shardings)):
        lines.append(f"{jax.tree_util.keystr(path):60s} {str(tuple(leaf.shape)):22s} "
                     f"{str(leaf.dtype):9s} logical={tuple(spec)} mesh={tuple(sharding.spec)}")
    return "\n".join(lines)


def mesh_shape_str(mesh: Mesh) -> str:
    return " x ".join(f"{name}={size}" for name, size in mesh.shape.items())


def global_batch(mesh: Mesh, local_batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    """Per-process numpy rows -> one global jax.Array per feature, split over the batch axes.

    Each process passes only the rows it read (its shard of the data); the global batch size is the
    local size times the process count.
    """
    sharding = batch_sharding(mesh)
    return {name: jax.make_array_from_process_local_data(sharding, value)
            for name, value in local_batch.items()}
