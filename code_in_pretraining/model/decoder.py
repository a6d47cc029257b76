"""The decoder: embeddings, parallel blocks, final norm, float32 logits.

Matches transformers' CohereForCausalLM layer for layer (see export_hf.py), so a
checkpoint trained here can be evaluated with standard tooling.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.model.embed import TABLE_AXES, embed
from code_in_pretraining.model.layers import Block, LayerNorm
from code_in_pretraining.model.unembed import unembed
from code_in_pretraining.parallel.rules import ACT_BxLxD, constrain, partitioned

# remat name -> jax.checkpoint policy (None = save nothing but the block input).
REMAT_POLICY = {
    "full": None,
    # Keep matmul outputs without batch dims (projections), recompute the rest:
    # elementwise ops and attention, which is memory- not FLOP-heavy.
    "save_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Decoder(nnx.Module):
    """Decoder-only LM, as Cohere's Command family defines it."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        pd = jnp.dtype(cfg.param_dtype)
        self.embedding_VxD = nnx.Param(
            partitioned(nnx.initializers.normal(cfg.init_std), *TABLE_AXES)(
                rngs.params(), (cfg.vocab_size, cfg.d_model), pd
            )
        )
        self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.n_layers)])
        self.final_norm = LayerNorm(cfg)
        if not cfg.tie_embeddings:
            self.unembed_DxV = nnx.Param(
                partitioned(
                    nnx.initializers.variance_scaling(1.0, "fan_in", "truncated_normal"), "embed", "vocab"
                )(rngs.params(), (cfg.d_model, cfg.vocab_size), pd)
            )

    def __call__(self, tokens_BxL, positions_BxL=None, segment_ids_BxL=None):
        """Logits [B, L, V] in float32.

        positions restart at 0 for each packed document (RoPE is relative, but the
        packer's positions make a packed document identical to the same one alone);
        segment ids mark documents, 0 = padding. Defaults: one unpadded document per
        row, which the attention kernels run without a document mask.
        """
        h_BxLxD = self.hidden(tokens_BxL, positions_BxL, segment_ids_BxL)
        with jax.named_scope("logits"):  # a label for profiles only
            logits_BxLxV = unembed(h_BxLxD, self.unembed_VxD(), self.cfg.logit_scale, "float32")
            return constrain(logits_BxLxV, ("act_batch", "act_length", "act_vocab"))

    def unembed_VxD(self):
        """The output projection as [V, D], the parameter (logits = scale * h @ it.T)."""
        if self.cfg.tie_embeddings:
            return self.embedding_VxD[...]
        return self.unembed_DxV[...].T

    def hidden(self, tokens_BxL, positions_BxL=None, segment_ids_BxL=None):
        """The final-norm hidden states [B, L, D] in the compute dtype (see __call__)."""
        cfg = self.cfg
        B, L = tokens_BxL.shape
        if positions_BxL is None:
            positions_BxL = jnp.broadcast_to(jnp.arange(L, dtype=jnp.int32), (B, L))
        x_BxLxD = constrain(embed(self.embedding_VxD[...], tokens_BxL, cfg.dtype), ACT_BxLxD)

        if cfg.scan_layers:
            x_BxLxD = self._scan_blocks(x_BxLxD, positions_BxL, segment_ids_BxL)
        else:
            def block_fn(block, x, positions, segment_ids):
                return block(x, positions, segment_ids)

            if cfg.remat != "none":
                block_fn = nnx.remat(block_fn, policy=REMAT_POLICY[cfg.remat])
            for block in self.blocks:
                x_BxLxD = block_fn(block, x_BxLxD, positions_BxL, segment_ids_BxL)
        return self.final_norm(x_BxLxD)

    def _scan_blocks(self, x_BxLxD, positions_BxL, segment_ids_BxL):
        """The blocks as a scan over their parameters stacked on a new leading axis: the same
        function as the loop, but XLA sees one layer's body, so FSDP gathers (and the backward
        reduce-scatters) one layer's parameters at a time instead of scheduling every layer's at
        once. The parameters stay a list of blocks (checkpoints, export); stacking a device's
        shards copies them once, a small price against the memory it frees."""
        graphdef = nnx.graphdef(self.blocks[0])
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *(nnx.state(b) for b in self.blocks))

        def body(x, state):
            return nnx.merge(graphdef, state)(x, positions_BxL, segment_ids_BxL), None

        if self.cfg.remat != "none":
            body = jax.checkpoint(body, policy=REMAT_POLICY[self.cfg.remat])
        x_BxLxD, _ = jax.lax.scan(body, x_BxLxD, stacked)
        return x_BxLxD
