"""The loss on a packed batch and the jit-compiled AdamW train step."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from code_in_pretraining.model.loss import grouped_nll, model_token_nll, next_token_targets, weighted_loss
from code_in_pretraining.parallel.rules import constrain


def batch_loss(graphdef, params, batch: dict[str, Any], z_loss: float = 0.0, num_sources: int = 0,
               denominator=None):
    """(loss, aux) of the model `merge(graphdef, params)` on a packed batch.

    With `num_sources` and the batch's `source_ids`, aux also holds the summed loss
    and token count per source ("source_nll", "source_tokens"). A batch without
    `segment_ids` (and `positions`) holds one unpadded document per row. `denominator`:
    the token count of the whole batch of which this is a microbatch (see weighted_loss).
    """
    model = nnx.merge(graphdef, params)
    tokens_BxL, segment_ids_BxL = batch["tokens"], batch.get("segment_ids")
    targets_BxL, weights_BxL = next_token_targets(
        tokens_BxL, jnp.ones_like(tokens_BxL) if segment_ids_BxL is None else segment_ids_BxL)
    # Once, for the loss and per source.
    nll_BxL, log_z_BxL = model_token_nll(model, tokens_BxL, batch.get("positions"), segment_ids_BxL, targets_BxL)
    with jax.named_scope("loss"):  # a label for profiles
        loss, aux = weighted_loss(nll_BxL, log_z_BxL, weights_BxL, z_loss, denominator)
        if num_sources:
            aux["source_nll"], aux["source_tokens"] = grouped_nll(
                jax.lax.stop_gradient(nll_BxL), weights_BxL, batch["source_ids"].astype(jnp.int32), num_sources)
    return loss, aux


def make_optimizer(schedule: optax.Schedule, *, b1: float, b2: float, eps: float,
                   weight_decay: float, clip_norm: float) -> optax.GradientTransformation:
    """Global-norm clipping, then AdamW; weight decay on matrices only (not norms)."""
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
    return optax.chain(
        optax.clip_by_global_norm(clip_norm),
        optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=decay_mask),
    )


def optimizer_shardings(tx: optax.GradientTransformation, params, param_shardings, mesh):
    """The optimizer state's shardings: each moment laid out like its parameter, counters
    replicated. (jit(tx.init) alone leaves the moments replicated: zeros_like carries no
    sharding from its operand, and every device would hold both moments whole.)"""
    from jax.sharding import NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top

    state = jax.eval_shape(tx.init, params)
    replicated = NamedSharding(mesh, PartitionSpec())
    return optax.tree_map_params(tx, lambda _, sharding: sharding, state, param_shardings,
                                 transform_non_params=lambda _: replicated)


def restart_schedule(opt_state):
    """The optimizer state with its LR-schedule counter at 0 (moments kept): a continued run
    indexes its own schedule from its own step 0."""
    is_sched = lambda x: isinstance(x, optax.ScaleByScheduleState)
    return jax.tree.map(lambda s: s._replace(count=s.count * 0) if is_sched(s) else s, opt_state,
                        is_leaf=is_sched)


# The parameters' global norm, taken on log steps only: in the step, its reduction would split
# XLA's fused AdamW update of each large parameter in two and read both moments twice.
param_norm = jax.jit(optax.tree.norm)


def split_microbatches(batch: dict[str, Any], microbatches: int) -> dict[str, Any]:
    """[B, ...] -> [microbatches, B / microbatches, ...], microbatch j holding rows j, j + k, ...
    (k = microbatches): each device's contiguous block of rows gives every microbatch an equal
    share, so splitting moves no data between devices."""
    def split(x):
        B = x.shape[0]
        if B % microbatches:
            raise ValueError(f"TrainConfig.microbatches={microbatches} does not divide the batch of {B} rows")
        parts = jnp.swapaxes(x.reshape(B // microbatches, microbatches, *x.shape[1:]), 0, 1)
        return constrain(parts, (None, "act_batch") + (None,) * (x.ndim - 1))

    return jax.tree.map(split, batch)


def accumulated_loss_and_grads(graphdef, params, batch, *, z_loss: float, num_sources: int, microbatches: int):
    """((loss, aux), grads) of the whole batch, one microbatch at a time (a scan: the
    activations of one microbatch live at once). Each microbatch's loss is its share of the
    whole batch's token-weighted mean, so the shares, their aux sums and their float32 gradients
    add up to the plain step's."""
    seg_BxL = batch.get("segment_ids")
    tokens_BxL = batch["tokens"]
    _, weights_BxL = next_token_targets(tokens_BxL, jnp.ones_like(tokens_BxL) if seg_BxL is None else seg_BxL)
    denominator = jnp.sum(weights_BxL.astype(jnp.float32))
    grad_fn = jax.value_and_grad(
        lambda p, mb: batch_loss(graphdef, p, mb, z_loss, num_sources, denominator), has_aux=True)
    parts = split_microbatches(batch, microbatches)

    def body(acc, mb):
        (loss, aux), grads = grad_fn(params, mb)
        out = {"loss": loss, **aux}
        acc_out, acc_grads = acc
        acc_grads = jax.tree.map(lambda a, g: a + g.astype(jnp.float32), acc_grads, grads)
        return (jax.tree.map(jnp.add, acc_out, out), acc_grads), None

    first = jax.tree.map(lambda x: x[0], parts)
    out_shapes = jax.eval_shape(lambda: grad_fn(params, first))
    (loss_aux, grads_shape) = out_shapes
    zeros = lambda s: jnp.zeros(s.shape, jnp.float32 if jnp.issubdtype(s.dtype, jnp.floating) else s.dtype)
    init_out = jax.tree.map(zeros, {"loss": loss_aux[0], **loss_aux[1]})
    init_grads = jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), grads_shape)
    (out, grads), _ = jax.lax.scan(body, (init_out, init_grads), parts)
    grads = jax.tree.map(lambda g, p: g.astype(p.dtype), grads, params)
    loss = out.pop("loss")
    return (loss, out), grads


def make_train_step(graphdef, tx: optax.GradientTransformation, schedule: optax.Schedule,
                    *, z_loss: float = 0.0, num_sources: int = 0, param_shardings=None, opt_shardings=None,
                    compiler_options: dict | None = None, microbatches: int = 1):
    """jit(step)(params, opt_state, batch, step) -> (params, opt_state, metrics); buffers donated.
    `compiler_options`: XLA options for this step only (`determinism.compiler_options`).
    `microbatches` > 1: gradient accumulation, the batch split inside the step
    (`accumulated_loss_and_grads`), one optimizer update."""

    def step(params, opt_state, batch, step_index):
        if microbatches > 1:
            (loss, aux), grads = accumulated_loss_and_grads(
                graphdef, params, batch, z_loss=z_loss, num_sources=num_sources, microbatches=microbatches)
        else:
            (loss, aux), grads = jax.value_and_grad(
                lambda p: batch_loss(graphdef, p, batch, z_loss, num_sources), has_aux=True)(params)
        with jax.named_scope("optimizer"):  # a label for profiles
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
        metrics = {"loss": loss, **aux, "grad_norm": optax.tree.norm(grads), "lr": schedule(step_index)}
        return params, opt_state, metrics

    out = None if param_shardings is None else (param_shardings, opt_shardings, None)
    return jax.jit(step, donate_argnums=(0, 1), out_shardings=out, compiler_options=compiler_options)
