"""The output projection, logits = scale * h @ table.T, with a backward in the compute dtype.

Logits are wanted in float32 (a 256k-way softmax), so the forward matmul takes
bfloat16 inputs and accumulates into a float32 output. Left to autodiff, the
transpose of that matmul takes the float32 cotangent as it is and multiplies it
with the bfloat16 operand upcast to float32: on a GPU, XLA compiles both
backward matmuls ([B*L, V] x [V, D] and [V, B*L] x [B*L, D], a third of the
step's matmul FLOPs at the 470m preset) as float32 (TF32 at best: half the
bfloat16 rate), reading float32 [B, L, V] twice. Here the backward casts the
cotangent to the compute dtype once and runs both as compute-dtype matmuls with
float32 accumulation (`unembed_grads`, which the blockwise loss uses per block).
The table comes in as the parameter and is cast here, so that its gradient leaves
in the parameter's dtype, unrounded: with tied embeddings it meets the lookup's
float32 gradient (embed.py) in one add. In float32 compute the casts are no-ops
and the result is autodiff's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def unembed(h_BxLxD, table_VxD, scale: float, out_dtype: str):
    """Logits [B, L, V] in `out_dtype` (the Decoder's float32; bfloat16 halves them and their
    gradient); the table (the parameter) is cast to h's compute dtype."""
    return _fwd(h_BxLxD, table_VxD, scale, out_dtype)[0]


def _fwd(h_BxLxD, table_VxD, scale, out_dtype):
    # The cast table is kept for the backward: cast (and, sharded, gathered) once per step.
    w_VxD = table_VxD.astype(h_BxLxD.dtype)
    ldt = jnp.dtype(out_dtype)
    logits_BxLxV = jnp.einsum("bld,vd->blv", h_BxLxD, w_VxD, preferred_element_type=ldt) * ldt.type(scale)
    return logits_BxLxV, (h_BxLxD, w_VxD, table_VxD)


def _bwd(scale, out_dtype, res, g_BxLxV):
    h_BxLxD, w_VxD, table_VxD = res
    dh_BxLxD, dtable_VxD = unembed_grads(g_BxLxV, h_BxLxD, w_VxD, scale)
    return dh_BxLxD.astype(h_BxLxD.dtype), dtable_VxD.astype(table_VxD.dtype)


def unembed_grads(g_BxLxV, h_BxLxD, table_VxD, scale: float):
    """(dh, dtable) in float32 for the logits cotangent g: g * scale cast to the compute
    dtype once (in float32 first: exact for Cohere's power-of-two 1/16), then two
    compute-dtype matmuls with float32 accumulation. Also per vocabulary block (blockwise_ce.py)."""
    g_BxLxV = (g_BxLxV.astype(jnp.float32) * scale).astype(h_BxLxD.dtype)
    dh_BxLxD = jnp.einsum("blv,vd->bld", g_BxLxV, table_VxD, preferred_element_type=jnp.float32)
    dtable_VxD = jnp.einsum("blv,bld->vd", g_BxLxV, h_BxLxD, preferred_element_type=jnp.float32)
    return dh_BxLxD, dtable_VxD


unembed.defvjp(_fwd, _bwd)
