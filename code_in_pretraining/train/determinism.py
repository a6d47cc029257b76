"""Run-to-run identical train steps on a GPU (`TrainConfig.deterministic`).

On a CPU the compiled step gives the same bits every time. On a GPU two things may
not. Kernels that add with atomics sum in whatever order threads arrive: the fused
attention backward's dQ does (the embedding gradient does not: model/embed.py writes
each row once), and so may XLA's and the libraries' kernels where they choose to.
And the autotuner times candidate GEMM kernels at compile time: a new process, such
as a run resumed after a crash, may pick another kernel, with another summation order.

`compiler_options` asks XLA for deterministic kernels only
(`xla_gpu_exclude_nondeterministic_ops`; a scatter-add with duplicates, had the step
one, would become a sort). It also keeps the autotuner's choices in the workdir
(`xla_gpu_per_fusion_autotune_cache_dir`), so a resumed run compiles the kernels the
interrupted one ran. The options are XLA:GPU's; other backends ignore them.
benchmarks/determinism.py checks the bits on a card; gpu_check.sh times the price.
"""

from __future__ import annotations

import pathlib

# Attention implementations that cannot be made deterministic: their kernels use atomics.
NONDETERMINISTIC_ATTENTION = ("pallas_gpu_fused",)


def compiler_options(deterministic: bool, workdir: str | pathlib.Path | None = None) -> dict | None:
    """XLA options for the train step's jit; None when `deterministic` is off. With a
    `workdir`, autotuning results live in (and are created under) workdir/xla_autotune."""
    if not deterministic:
        return None
    options: dict = {"xla_gpu_exclude_nondeterministic_ops": True}
    if workdir is not None:
        cache = pathlib.Path(workdir) / "xla_autotune"
        cache.mkdir(parents=True, exist_ok=True)
        options["xla_gpu_per_fusion_autotune_cache_dir"] = str(cache)
    return options


def check_attention(deterministic: bool, attention_impl: str) -> None:
    """Fails before compilation when a deterministic run asks for an atomic kernel."""
    if deterministic and attention_impl in NONDETERMINISTIC_ATTENTION:
        raise ValueError(f"TrainConfig.attention_impl={attention_impl!r} adds dQ with atomics, so it is not "
                         f"deterministic, but TrainConfig.deterministic=True; use 'pallas_gpu' (its two-kernel "
                         f"backward)")
