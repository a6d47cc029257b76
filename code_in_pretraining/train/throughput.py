"""Model FLOPs utilisation: achieved model FLOPs over the devices' peak.

The numerator is `model.info.flops_per_token` (PaLM's convention, remat not
counted) times tokens/s; the denominator is the dense bfloat16 peak of the
devices from their spec sheets, or `TrainConfig.peak_flops` where the device is
not in the table (CPU: no MFU unless given).
"""

from __future__ import annotations

import jax

# (substring of jax's device_kind, dense bf16 FLOP/s per device); the first match wins.
PEAK_BF16_FLOPS = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("TPU v6 lite", 918e12),
    ("TPU v5 lite", 197e12),
    ("TPU v5", 459e12),  # v5p
    ("TPU v4", 275e12),
)


def device_peak_flops(device=None) -> float | None:
    kind = (device or jax.devices()[0]).device_kind
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in kind), None)


def mfu(tokens_per_s: float, flops_per_token: float, peak_per_device: float | None,
        devices: int | None = None) -> float | None:
    """Achieved / peak FLOP/s over all devices of the run; None without a peak."""
    if not peak_per_device:
        return None
    return tokens_per_s * flops_per_token / (peak_per_device * (devices or jax.device_count()))
