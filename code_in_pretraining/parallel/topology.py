"""TPU slices by the names users write, and their chips' figures, for compiling without a TPU.

`parse("v5e-256")`, `parse("v5p-128")`, `parse("v4-64")` or `parse("v5e:16x16")` gives the
slice's generation and the topology name libtpu's compiler takes. Cloud slice names count
differently per generation: v5e-N and v6e-N count chips; v4-N and v5p-N count TensorCores,
two per chip. `devices(...)` returns the slice's abstract devices from libtpu (installed by
`make tpu-aot`): a mesh over them, ShapeDtypeStructs with NamedShardings, and
`jit(...).lower(...).compile()` runs XLA's TPU compiler on a machine without a TPU.

The chip figures (HBM, bf16 peak, HBM and ICI bandwidth) are the public spec sheets'; they feed
the fit check and the roofline estimate of train/compile_only.py, nothing that runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re

GiB = 2**30


@dataclasses.dataclass(frozen=True)
class Chip:
    """One generation's device as the compiler sees it (for v4, a TensorCore: libtpu's v4
    topologies list two devices per chip, each with half the chip's HBM)."""

    generation: str  # libtpu's topology prefix
    hbm_bytes: float  # usable per device
    peak_flops: float  # dense bf16 FLOP/s per device
    hbm_bandwidth: float  # bytes/s per device
    ici_bandwidth: float  # bytes/s per device, all links, one direction
    cores_per_chip_in_name: int  # how cloud slice names count (v4-N, v5p-N: TensorCores)
    torus_dims: int  # 2 for v5e/v6e slices, 3 for v4/v5p
    devices_per_chip: int = 1


CHIPS = {
    # v5e: 16 GiB HBM of which XLA reports 15.75 GiB usable; 197 TFLOP/s; 819 GB/s; 1,600 Gbit/s ICI.
    "v5e": Chip("v5e", 15.75 * GiB, 197e12, 819e9, 200e9, 1, 2),
    # v5p: 95 GiB HBM; 459 TFLOP/s; 2,765 GB/s; 4,800 Gbit/s ICI.
    "v5p": Chip("v5p", 95 * GiB, 459e12, 2765e9, 600e9, 2, 3),
    # v4: 32 GiB and 275 TFLOP/s per chip, 1,228 GB/s, 2,400 Gbit/s ICI; two devices per chip here.
    "v4": Chip("v4", 16 * GiB, 137.5e12, 614e9, 150e9, 2, 3, devices_per_chip=2),
    # v6e: 32 GiB; 918 TFLOP/s; 1,640 GB/s; 3,584 Gbit/s ICI.
    "v6e": Chip("v6e", 32 * GiB, 918e12, 1640e9, 448e9, 1, 2),
}


@dataclasses.dataclass(frozen=True)
class Slice:
    """A TPU slice: `name` as given, libtpu's `topology` ("v5e:16x16"), its chip and device count."""

    name: str
    topology: str
    chip: Chip
    num_devices: int


def _grid(chips: int, dims: int) -> tuple[int, ...]:
    """The most nearly square (cubic) power-of-two grid of `chips`, as slices are laid out."""
    if chips < 1 or chips & (chips - 1):
        raise ValueError(f"{chips} chips: TPU slices have a power-of-two number of chips")
    shape = [1] * dims
    for i in range(int(math.log2(chips))):
        shape[i % dims] *= 2
    return tuple(sorted(shape))


def parse(name: str) -> Slice:
    """`v5e-256`, `v5p-128`, `v4-64`, `v6e-16`, or libtpu's own `v5e:16x16` / `v5p:4x4x4`."""
    m = re.fullmatch(r"(v5e|v5p|v4|v6e)([-:])([0-9x]+)", name.strip().lower().replace("v5litepod", "v5e"))
    if not m:
        raise ValueError(f"topology {name!r}: expected a slice name like v5e-256, v5p-128, v4-64 "
                         f"or a topology like v5e:16x16; generations: {', '.join(CHIPS)}")
    gen, sep, size = m.groups()
    chip = CHIPS[gen]
    if sep == ":":
        dims = tuple(int(d) for d in size.split("x"))
        if len(dims) != chip.torus_dims or min(dims) < 1:
            raise ValueError(f"topology {name!r}: {gen} topologies have {chip.torus_dims} dimensions")
        chips = math.prod(dims)
    else:
        if not size.isdigit():
            raise ValueError(f"topology {name!r}: the size after '-' is a number of "
                             f"{'TensorCores' if chip.cores_per_chip_in_name > 1 else 'chips'}")
        count = int(size)
        if count % chip.cores_per_chip_in_name:
            raise ValueError(f"topology {name!r}: {gen}-N counts TensorCores, two per chip; N must be even")
        chips = count // chip.cores_per_chip_in_name
        dims = _grid(chips, chip.torus_dims)
    if chips < 4:
        raise ValueError(f"topology {name!r}: {chips} chip(s); compiling needs a slice of at least 4 chips "
                         "(one host, 2x2)")
    return Slice(name, f"{gen}:{'x'.join(map(str, dims))}", chip, chips * chip.devices_per_chip)


def devices(slice_: Slice, num_slices: int = 1) -> list:
    """The abstract devices of `num_slices` such slices (libtpu's compiler; no TPU needed)."""
    # libtpu takes a machine-wide lock meant for processes that drive TPUs; compiling drives none,
    # so several compiles may run at once.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    try:
        from jax.experimental import topologies
    except ImportError as e:  # pragma: no cover - jax always has it
        raise RuntimeError(f"jax.experimental.topologies: {e}") from None
    try:
        topo = topologies.get_topology_desc(platform="tpu", topology_name=slice_.topology,
                                            chip_config_name="default", chips_per_host_bounds=(2, 2, 1),
                                            num_slices=num_slices)
    except Exception as e:  # noqa: BLE001 - libtpu missing or a topology it rejects
        if "tpu" in str(e).lower() and ("unknown backend" in str(e).lower() or "not found" in str(e).lower()
                                        or "no module" in str(e).lower()):
            raise RuntimeError(f"compiling for {slice_.name} needs libtpu: run `make tpu-aot` and use "
                               f".venv-tpu-aot/bin/cip ({e})") from None
        raise RuntimeError(f"libtpu could not describe {slice_.topology} x{num_slices}: {e}") from None
    return list(topo.devices)
