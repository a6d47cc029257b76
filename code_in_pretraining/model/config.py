"""Model configuration and the named presets (tiny, 470m, 2p8b).

One frozen dataclass describes a Cohere-Command-style decoder. The presets are
the one registry of model sizes: the CLI, gin and notebooks all read `PRESETS`.

Preset dimensions (the paper states only "470M" and "2.8B", a 256k BPE vocabulary
and 8192-token sequences; everything else is our choice, marked (?) in PAPER.md):

  name   d_model layers heads x head_dim  kv_heads  mlp_dim  params (tied, exact)
  470m   1024    16     8 x 128           8         2816     467,682,304 (-0.5%)
  2p8b   2560    24     20 x 128          20        8192     2,794,519,040 (-0.2%)

Why: with a 256k vocabulary the tied embedding alone is 262M (470m) and 655M
(2p8b) parameters, so the transformer stack is comparatively shallow. 470m uses
Command R's MLP ratio (22528 / 8192 = 2.75 -> 2816) and head_dim 128 (MXU
friendly); 2p8b uses a 3.2x MLP (8192, a multiple of 128/256) so that 24 layers
land within 0.2% of 2.8B. Both use full multi-head attention (the paper does not
mention GQA); `n_kv_heads` makes GQA a one-line change. Tied embeddings count once.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

DTYPES = ("float32", "bfloat16", "float16")
# How the model runs, not what it computes: a checkpoint carries over between these.
RUNTIME_FIELDS = ("dtype", "attention_impl", "remat", "loss_vocab_block", "scan_layers")
REMAT_POLICIES = ("none", "full", "save_dots")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Decoder hyper-parameters; `dtype` is the compute dtype, params stay `param_dtype`."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None  # None -> n_heads (multi-head attention)
    head_dim: int | None = None  # None -> d_model // n_heads
    mlp_dim: int | None = None  # None -> 4 * d_model
    rope_theta: float = 500_000.0  # (?) Cohere's/Llama-3's base for 8k contexts
    norm_eps: float = 1e-5
    logit_scale: float = 0.0625  # Cohere multiplies logits by this (tied embeddings)
    tie_embeddings: bool = True
    max_seq_len: int = 8192  # only used for export/validation; RoPE has no table
    init_std: float = 0.02  # embedding init (Cohere's initializer_range)
    dtype: str = "bfloat16"
    param_dtype: str = "float32"
    attention_impl: str = "auto"
    remat: str = "none"
    # 0: the training loss takes [B, L, V] float32 logits. N > 0: it computes them N
    # vocabulary rows at a time and never holds them whole (model/blockwise_ce.py).
    loss_vocab_block: int = 0
    # True: the blocks run as one scan over their stacked parameters (decoder.py), so a sharded
    # step gathers each layer's parameters, and reduces its gradients, one layer at a time.
    scan_layers: bool = False

    def __post_init__(self):
        def bad(field, why):
            return ValueError(f"ModelConfig.{field}={getattr(self, field)!r}: {why}")

        for f in ("vocab_size", "d_model", "n_layers", "n_heads", "max_seq_len"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise bad(f, "must be a positive int")
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.head_dim is None:
            if self.d_model % self.n_heads:
                raise bad(
                    "head_dim",
                    f"is None and n_heads={self.n_heads} does not divide "
                    f"d_model={self.d_model}; set head_dim explicitly",
                )
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
        if self.mlp_dim is None:
            object.__setattr__(self, "mlp_dim", 4 * self.d_model)
        for f in ("n_kv_heads", "head_dim", "mlp_dim"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise bad(f, "must be a positive int")
        if self.n_heads % self.n_kv_heads:
            raise bad("n_kv_heads", f"must divide n_heads={self.n_heads}")
        if self.head_dim % 2:
            raise bad("head_dim", "must be even (rotary embeddings rotate pairs)")
        if not self.rope_theta > 0:
            raise bad("rope_theta", "must be > 0")
        if not self.norm_eps > 0:
            raise bad("norm_eps", "must be > 0")
        if not self.init_std > 0:
            raise bad("init_std", "must be > 0")
        if self.dtype not in DTYPES:
            raise bad("dtype", f"must be one of {DTYPES}")
        if self.param_dtype not in DTYPES:
            raise bad("param_dtype", f"must be one of {DTYPES}")
        if not isinstance(self.loss_vocab_block, int) or isinstance(self.loss_vocab_block, bool) \
                or self.loss_vocab_block < 0:
            raise bad("loss_vocab_block", "must be an int >= 0 (0: whole logits)")
        if not isinstance(self.scan_layers, bool):
            raise bad("scan_layers", "must be True or False")
        if self.remat not in REMAT_POLICIES:
            raise bad("remat", f"must be one of {REMAT_POLICIES}")
        from code_in_pretraining.kernels import IMPLEMENTATIONS  # jax-only import

        if self.attention_impl not in IMPLEMENTATIONS:
            raise bad("attention_impl", f"must be one of {IMPLEMENTATIONS}")

    def replace(self, **overrides) -> "ModelConfig":
        _check_keys(overrides)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def architecture(self) -> dict[str, Any]:
        """The fields that fix the parameters and the function (all but RUNTIME_FIELDS)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        _check_keys(d, where="ModelConfig.from_dict")
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "ModelConfig":
        return cls.from_dict(json.loads(s))


def _check_keys(d: dict[str, Any], where: str = "override") -> None:
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{where}: unknown ModelConfig field(s) {unknown}; known: {sorted(known)}")


PAPER_VOCAB = 256_000
# The paper's model sizes: their 256k vocabulary is part of what they are (a 470m model over the
# default 4,096-piece vocabulary has about 210M parameters), so training one over another
# vocabulary must be asked for (train/trainer.py, model_config).
PAPER_PRESETS = ("470m", "2p8b")

PRESETS: dict[str, dict[str, Any]] = {
    # Tests and the CPU demo; training sets vocab_size to the data's (the default vocabulary has 4,096 pieces).
    "tiny": dict(
        vocab_size=8192,
        d_model=128,
        n_layers=2,
        n_heads=4,
        head_dim=32,
        mlp_dim=384,
        max_seq_len=1024,
        dtype="float32",
        logit_scale=1.0,
    ),  # a width-128 model learns too slowly through 1/16
    "470m": dict(vocab_size=PAPER_VOCAB, d_model=1024, n_layers=16, n_heads=8, head_dim=128, mlp_dim=2816),
    "2p8b": dict(vocab_size=PAPER_VOCAB, d_model=2560, n_layers=24, n_heads=20, head_dim=128, mlp_dim=8192),
}


def get_preset(name: str, **overrides) -> ModelConfig:
    """The preset `name` with `overrides` (ModelConfig field names) applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}")
    _check_keys(overrides, where=f"get_preset({name!r})")
    return ModelConfig(**{**PRESETS[name], **overrides})
