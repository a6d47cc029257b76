#!/usr/bin/env bash
# The GPU checks of the attention kernels and the train step, in one call that fits a
# 10-minute device slot. Each part has its own time limit, so one slow part leaves the
# others' results; everything lands in $OUT (default: ./gpu_check). From the repo root:
#
#   bash benchmarks/gpu_check.sh
#
# 1. attention.py: correctness on the card, then pallas_gpu (two-kernel backward),
#    pallas_gpu_fused (atomic dQ), cuDNN, JAX's Pallas kernel and XLA at the three shapes,
#    and the packed-documents case.
# 2. train_step.py at T=2048 and 8192 with float32 logits, bfloat16 logits and the
#    blockwise loss, plus a profile of the T=2048 step per loss (where the time goes).
# 3. train_step.py with the fused attention backward, blockwise loss.
set -u
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
export PYTHONPATH=.
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/card.txt"
python -c "import jax; print('jax', jax.__version__, jax.devices())" | tee -a "$OUT/card.txt"

timeout 170 python benchmarks/attention.py --out "$OUT/attention.json" 2>&1 | tee "$OUT/attention.log"
timeout 260 python benchmarks/train_step.py --preset 470m --configs 2048x4,8192x1 \
    --loss f32,bf16,blockwise --profile "$OUT/prof" --out "$OUT/train_step.json" 2>&1 | tee "$OUT/train_step.log"
timeout 110 python benchmarks/train_step.py --preset 470m --configs 2048x4,8192x1 --loss blockwise \
    --attention pallas_gpu_fused --out "$OUT/train_step_fused.json" 2>&1 | tee "$OUT/train_step_fused.log"
rm -rf "$OUT"/prof/*/plugins  # traces are large; the breakdown tables are in the log
