"""Compile for a GPU on a machine without one: XLA's deviceless ahead-of-time path.

With JAX's CUDA plugin installed (`make gpu-aot`: a venv beside the project's with
`jax-cuda12-plugin[with-cuda]` of the same version as jaxlib), XLA's GPU compiler
runs on the CPU against a described card: it fuses, schedules, assigns buffers
and compiles every Pallas kernel through Triton and ptxas, as on the card, but
without autotuning (it takes its default GEMM configs). What that gives before
any device time is spent: the step's GPU memory, the fusions it will run (for
`profile_breakdown.roofline`), and kernels that fail to compile (e.g. tiles that
need more shared memory than an SM has).

    .venv-aot/bin/python benchmarks/train_step.py --target h100 --configs 2048x4 --loss f32,blockwise
"""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Card:
    """What XLA's GPU compiler needs to know of a card (its GpuTargetConfig), and its peaks."""

    name: str  # device_kind, as jax reports it on the card
    memory_bytes: int
    bandwidth: float  # HBM bytes/s
    bf16_flops: float  # dense peak, FLOP/s
    f32_flops: float  # dense TF32 peak: what float32 matmuls get at JAX's default precision
    sms: int = 132
    clock_ghz: float = 1.98
    l2_bytes: int = 50 * 2**20

    def target_config(self) -> str:
        """The card as GpuTargetConfig protobuf text (Hopper: compute capability 9.0)."""
        return f"""gpu_device_info {{
  threads_per_block_limit: 1024
  threads_per_warp: 32
  shared_memory_per_block: 49152
  shared_memory_per_block_optin: 232448
  shared_memory_per_core: 233472
  threads_per_core_limit: 2048
  core_count: {self.sms}
  fpus_per_core: 128
  block_dim_limit_x: 2147483647
  block_dim_limit_y: 65535
  block_dim_limit_z: 65535
  memory_bandwidth: {int(self.bandwidth)}
  l2_cache_size: {self.l2_bytes}
  clock_rate_ghz: {self.clock_ghz}
  device_memory_size: {self.memory_bytes}
  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
  cuda_compute_capability {{ major: 9 minor: 0 }}
}}
platform_name: "CUDA"
dnn_version_info {{ major: 9 minor: 8 }}
runtime_version {{ major: 12 minor: 8 }}
device_description_str: "{self.name}"
"""


# Spec sheet figures (SXM parts); memory as the cards report it to CUDA.
CARDS = {
    "h100": Card("NVIDIA H100 80GB HBM3", 84_929_347_584, 3.35e12, 989e12, 494.5e12),
    "h200": Card("NVIDIA H200", 150_754_820_096, 4.8e12, 989e12, 494.5e12),
}


def prepare_environment() -> None:
    """Must run before jax starts a backend: CPU is the only platform to run on, and the
    CUDA plugin, which checks its libraries against a driver at start-up, skips that check."""
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["JAX_SKIP_CUDA_CONSTRAINTS_CHECK"] = "1"


def replicated(card: str):
    """A NamedSharding on one described `card`: give it to ShapeDtypeStructs, then
    `jit(f).trace(...).lower(lowering_platforms=("cuda",)).compile()`."""
    import jax
    from jax.experimental import topologies
    from jax.sharding import NamedSharding, PartitionSpec

    if card not in CARDS:
        raise ValueError(f"unknown card {card!r}; known: {sorted(CARDS)}")
    try:
        topology = topologies.get_topology_desc(
            platform="cuda", target_config=CARDS[card].target_config(), topology="1x1x1")
    except (NotImplementedError, RuntimeError) as e:
        raise RuntimeError(
            f"compiling for {card} needs JAX's CUDA plugin of jaxlib's version ({jax.__version__}) and "
            f"prepare_environment() before jax starts: `make gpu-aot`, then run with .venv-aot/bin/python "
            f"({type(e).__name__}: {e})") from e
    return NamedSharding(topologies.make_mesh(topology, (1,), ("devices",)), PartitionSpec())
