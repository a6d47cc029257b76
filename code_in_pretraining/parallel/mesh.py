"""The device mesh (data, fsdp, tensor) and the shardings derived from the rules.

All axes are `AxisType.Auto`: the model states intent with logical constraints
and GSPMD propagates the rest, so model code needs no per-op sharding arguments.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from code_in_pretraining.parallel import rules as rules_lib

AXES = ("data", "fsdp", "tensor")


def resolve_shape(shape: Sequence[int], n_devices: int) -> tuple[int, ...]:
    """Replaces a single -1 in `shape` by what is left of `n_devices`."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"mesh shape {shape}: at most one -1 ('the rest') is allowed")
    if any(s == 0 or s < -1 for s in shape):
        raise ValueError(f"mesh shape {shape}: sizes must be positive or -1")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if n_devices % known:
            raise ValueError(
                f"mesh shape {shape}: the fixed axes ({known} devices) do not "
                f"divide the {n_devices} available devices"
            )
        shape = tuple(n_devices // known if s == -1 else s for s in shape)
    if math.prod(shape) != n_devices:
        raise ValueError(f"mesh shape {shape} needs {math.prod(shape)} devices but {n_devices} are available")
    return shape


def make_mesh(
    shape: Sequence[int] = (-1, 1, 1), axis_names: Sequence[str] = AXES, devices: Sequence[Any] | None = None
) -> Mesh:
    """A mesh over `devices` (default: all); -1 in `shape` means 'the rest'."""
    devices = list(jax.devices() if devices is None else devices)
    if len(shape) != len(axis_names):
        raise ValueError(f"mesh shape {tuple(shape)} and axis names {tuple(axis_names)} differ in length")
    shape = resolve_shape(shape, len(devices))
    try:  # topology-aware device order where jax knows the hardware
        return jax.make_mesh(shape, tuple(axis_names), (AxisType.Auto,) * len(shape), devices=devices)
    except Exception:  # noqa: BLE001 - e.g. a device subset it cannot lay out
        return Mesh(
            np.asarray(devices, dtype=object).reshape(shape),
            tuple(axis_names),
            axis_types=(AxisType.Auto,) * len(shape),
        )


def make_multislice_mesh(shape: Sequence[int], devices: Sequence[Any], num_slices: int,
                         axis_names: Sequence[str] = AXES) -> Mesh:
    """A mesh over `num_slices` TPU slices: `shape` (-1: the rest) within each slice over ICI,
    the slices side by side on the first axis (data parallel over DCN, whose bandwidth is far
    below ICI's: only the gradient reduction crosses it)."""
    from jax.experimental import mesh_utils

    devices = list(devices)
    if len(devices) % num_slices:
        raise ValueError(f"{len(devices)} devices do not split into {num_slices} slices")
    per_slice = resolve_shape(shape, len(devices) // num_slices)
    dcn = (num_slices,) + (1,) * (len(per_slice) - 1)
    grid = mesh_utils.create_hybrid_device_mesh(per_slice, dcn, devices)
    return Mesh(grid, tuple(axis_names), axis_types=(AxisType.Auto,) * len(per_slice))


def current_platform() -> str:
    """'tpu', 'gpu' or 'cpu': the platform of the devices of the mesh in context (`jax.set_mesh`),
    else of the default backend. A step compiled for a TPU topology on a CPU machine is a TPU
    program, so kernels are chosen by the mesh, not by the process's backend."""
    mesh = jax.sharding.get_abstract_mesh()
    device = None if mesh.empty else getattr(mesh, "abstract_device", None)
    platform = jax.default_backend() if device is None else device.platform
    return {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)


def parse_mesh(text: str) -> tuple[int, ...]:
    """'2,4,1' -> (2, 4, 1); used by the CLIs."""
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ValueError(f"mesh {text!r}: expected comma-separated ints like 2,4,1") from None
    if len(shape) != len(AXES):
        raise ValueError(f"mesh {text!r}: expected {len(AXES)} sizes for axes {AXES}")
    return shape


def _is_var(x) -> bool:
    return isinstance(x, nnx.Variable)


def variable_spec(var: nnx.Variable, mesh_axis_sizes: dict[str, int], rules=rules_lib.RULES) -> P:
    """PartitionSpec of one variable from its logical names (replicated if none)."""
    names = var.get_metadata().get("out_sharding")
    if not names:
        return P()
    return rules_lib.logical_to_spec(names, var.shape, mesh_axis_sizes, rules)


def state_shardings(state, mesh: Mesh, rules=rules_lib.RULES):
    """NamedSharding tree mirroring an nnx State (real or from nnx.eval_shape)."""
    sizes = dict(mesh.shape)
    return jax.tree.map(
        lambda v: (
            v.replace(NamedSharding(mesh, variable_spec(v, sizes, rules)))
            if _is_var(v)
            else NamedSharding(mesh, P())
        ),
        state,
        is_leaf=_is_var,
    )


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over data x fsdp; the rest replicated."""
    spec = rules_lib.logical_to_spec(("act_batch",), None, dict(mesh.shape))
    return NamedSharding(mesh, spec)


def shard_batch(batch, mesh: Mesh):
    """Places a host-local batch (pytree of numpy arrays) on the mesh.

    Multi-host: each process passes its own slice of the global batch (leading
    axis); `make_array_from_process_local_data` assembles the global array.
    """
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


def init_sharded(make_model: Callable[[], nnx.Module], mesh: Mesh, rules=rules_lib.RULES):
    """Builds a model directly into its shardings (no full copy on one device).

    Returns (graphdef, state, shardings).
    """
    graphdef, abs_state = nnx.split(nnx.eval_shape(make_model))
    shardings = state_shardings(abs_state, mesh, rules)

    def init():
        return nnx.split(make_model())[1]

    with jax.set_mesh(mesh):
        state = jax.jit(init, out_shardings=shardings)()
    return graphdef, state, shardings
