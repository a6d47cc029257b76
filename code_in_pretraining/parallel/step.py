"""A jit-compiled, sharded loss + gradient step over an nnx model.

The model is split into (graphdef, state) once; the step is a pure function of
(state, batch) with explicit NamedShardings in and out, so params, gradients and
(in the trainer) optimizer state all follow the same rule-derived layout.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

LossFn = Callable[[nnx.Module, Any], tuple[jax.Array, dict[str, jax.Array]]]


def make_sharded_grad_fn(graphdef, state_shardings, batch_sharding: NamedSharding, loss_fn: LossFn):
    """fn(state, batch) -> ((loss, aux), grads); grads sharded like the state.

    loss_fn(model, batch) -> (scalar loss, dict of scalars). The mesh comes from
    `batch_sharding`; it is set while tracing so the model's logical activation
    constraints (`parallel.rules.constrain`) take effect.
    """
    mesh = batch_sharding.mesh
    replicated = NamedSharding(mesh, P())

    def loss_of_state(state, batch):
        return loss_fn(nnx.merge(graphdef, state), batch)

    def step(state, batch):
        return jax.value_and_grad(loss_of_state, has_aux=True)(state, batch)

    jitted = jax.jit(
        step,
        in_shardings=(state_shardings, batch_sharding),
        out_shardings=((replicated, replicated), state_shardings),
    )

    def run(state, batch):
        with jax.set_mesh(mesh):
            return jitted(state, batch)

    run.jitted = jitted  # for .lower(...) / cost analysis
    return run
