"""`add(ref, idx, val)`: ref[idx] += val with relaxed atomics, for Pallas GPU (Triton) kernels.

Pallas' public `atomic_add` lowers to Triton atomics with acquire-release
semantics at GPU scope. On Hopper, ptxas turns each of those into a GPU-wide
memory barrier, the atomic with its round trip, and an L1 invalidation
(MEMBAR.ALL.GPU; ATOMG; CCTL.IVALL), so a kernel that adds a tile of partial
sums stalls on every 16-byte vector of it. A reduction whose result is read
only after the kernel ends needs no ordering at all: relaxed atomics compile
to fire-and-forget REDG, as CUDA's atomicAdd does.

Pallas has no public switch for the memory semantics, so this module declares
its own primitive that shares `atomic_rmw`'s shape rule, interpret-mode
discharge and Triton lowering, the last with the semantics set to relaxed.
Those are JAX internals (the attention kernels otherwise keep to the public
Pallas API, and only the opt-in fused backward adds atomically): where they are
missing or behave otherwise (another JAX version), `add` falls back to the
public `atomic_add` and logs why; `RELAXED` says whether the primitive could be
declared, i.e. which atomics the fused backward gets with this JAX.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _declare():
    """The relaxed primitive, or the reason it cannot be declared with this JAX."""
    try:
        from jax._src import core as jax_core  # pylint: disable=g-import-not-at-top
        from jax._src import tree_util  # pylint: disable=g-import-not-at-top
        from jax._src.lib.mlir import ir  # pylint: disable=g-import-not-at-top
        from jax._src.lib.triton import dialect as tt_dialect  # pylint: disable=g-import-not-at-top
        from jax._src.pallas.triton import lowering  # pylint: disable=g-import-not-at-top
        from jax._src.pallas.triton import primitives as triton_primitives  # pylint: disable=g-import-not-at-top
        from jax._src.state import discharge as state_discharge  # pylint: disable=g-import-not-at-top
        from jax._src.state import primitives as state_primitives  # pylint: disable=g-import-not-at-top

        rmw_p = triton_primitives.atomic_rmw_p
        rmw_lowering = lowering.triton_lowering_rules[rmw_p]
        rmw_discharge = state_discharge._discharge_rules[rmw_p]  # pylint: disable=protected-access
        add_type = triton_primitives.AtomicOpType.ADD
        acq_rel_rmw = lowering._atomic_rmw  # pylint: disable=protected-access
        relaxed = tt_dialect.MemSemantic.RELAXED
    except (ImportError, AttributeError, KeyError) as e:
        return None, f"{type(e).__name__}: {e}"

    relaxed_add_p = jax_core.Primitive("cip_relaxed_atomic_add")
    relaxed_add_p.def_effectful_abstract_eval(rmw_p.abstract_eval)
    state_discharge.register_discharge_rule(relaxed_add_p)(rmw_discharge)

    def relaxed_rmw(op, ptr, val, mask=None, **kwargs):
        kwargs["semantic"] = relaxed
        return acq_rel_rmw(op, ptr, val, mask=mask, **kwargs)

    @lowering.register_lowering(relaxed_add_p)
    def _lower(ctx, *args_flat, **params):
        # atomic_rmw's own rule (pointers, masks, the add op), with the module's
        # helper swapped for the relaxed one while it runs. Lowering runs in the
        # thread that lowers this kernel, and the helper is restored right after.
        # If the swap fails with this JAX, the add lowers as atomic_add would.
        lowering._atomic_rmw = relaxed_rmw  # pylint: disable=protected-access
        try:
            out = rmw_lowering(ctx, *args_flat, **params)
        except Exception as e:  # pylint: disable=broad-except
            log.warning("relaxed_add: %s with this JAX; lowering as acquire-release atomic_add", e)
            lowering._atomic_rmw = acq_rel_rmw  # pylint: disable=protected-access
            return rmw_lowering(ctx, *args_flat, **params)
        finally:
            lowering._atomic_rmw = acq_rel_rmw  # pylint: disable=protected-access
        if ir.IntegerAttr(out.owner.attributes["sem"]).value != int(relaxed):
            log.warning("relaxed_add lowered to %s with this JAX, not relaxed atomics", out.owner)
        return out

    def bind(ref, idx, val):
        ref, transforms = state_primitives.get_ref_and_transforms(ref, idx, "relaxed_add")
        args_flat, args_tree = tree_util.tree_flatten((ref, transforms, val, None))
        return relaxed_add_p.bind(*args_flat, args_tree=args_tree, atomic_type=add_type)

    return bind, None


_bind, _UNAVAILABLE_BECAUSE = _declare()
RELAXED = _bind is not None
_warned: list[bool] = []


def add(ref, idx, val) -> None:
    """ref[idx] += val, atomically per element, in no particular order with other memory operations."""
    reason = _UNAVAILABLE_BECAUSE
    if _bind is not None:
        try:
            _bind(ref, idx, val)
            return
        except Exception as e:  # pylint: disable=broad-except  (JAX internals changed)
            reason = f"{type(e).__name__}: {e}"
    if not _warned:
        _warned.append(True)
        log.warning("relaxed atomics unavailable (%s): using pallas atomic_add", reason)
    from jax.experimental.pallas import triton as plgpu  # pylint: disable=g-import-not-at-top

    plgpu.atomic_add(ref, idx, val)
