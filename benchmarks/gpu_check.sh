#!/usr/bin/env bash
# The GPU checks of the train step, the attention kernels and determinism. Parts run in order
# of importance, each under its own time limit, so a slow part leaves the others' results and a
# 10-minute device call gets the most important ones; everything lands in $OUT (default ./gpu_check).
# From the repo root:
#
#   bash benchmarks/gpu_check.sh
#   SMOKE=1 bash benchmarks/gpu_check.sh   # the same plumbing on a CPU, tiny shapes, in seconds
#
# 1. train_step.py, 470m at L=2048 x 4: float32 logits, the peer's shortcuts (cuDNN without
#    document masks, bf16 logits: the goal's ratio within one run), bfloat16 logits and the
#    blockwise loss, each profiled (device time per category: matmuls, attention, loss,
#    optimizer, other). Its JSON is written after every row.
# 2. attention.py: correctness on the card; pallas_gpu (two-kernel backward), pallas_gpu_fused
#    (atomic dQ), cuDNN, JAX's Pallas kernel and XLA at the three shapes; packed documents
#    (fwd+bwd, then each kernel alone).
# 3. train_step.py at L=8192 x 1: float32 logits, the blockwise loss, the peer's shortcuts.
# 4. train_step.py with the fused attention backward (float32 logits), both lengths.
# 5. determinism.py: the train step twice in fresh processes, default and deterministic kernels
#    (tiny preset at L=2048 x 8): are the bits the same?
# 6. train_step.py at L=2048 x 4: the price of the deterministic kernels, beside the default.
# The limits add up to more than 10 minutes: parts 5 and 6 may need a second call.
# Last, tools/gpu_goals.py marks each measured figure against the issues' goals (goals.md).
set -u
OUT=${OUT:-gpu_check}
PY=${PYTHON:-python}
SMOKE=${SMOKE:+--smoke}
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
[ -z "$SMOKE" ] && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/card.txt"
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" | tee -a "$OUT/card.txt"
STEP="$PY benchmarks/train_step.py --preset 470m $SMOKE"

timeout 200 $STEP --configs 2048x4 --loss f32,peer,bf16,blockwise --profile "$OUT/prof" \
    --out "$OUT/train_step_2048.json" 2>&1 | tee "$OUT/train_step_2048.log"
timeout 150 $PY benchmarks/attention.py $SMOKE --out "$OUT/attention.json" 2>&1 | tee "$OUT/attention.log"
timeout 120 $STEP --configs 8192x1 --loss f32,blockwise,peer \
    --out "$OUT/train_step_8192.json" 2>&1 | tee "$OUT/train_step_8192.log"
timeout 90 $STEP --configs 2048x4,8192x1 --loss f32 --attention pallas_gpu_fused \
    --out "$OUT/train_step_fused.json" 2>&1 | tee "$OUT/train_step_fused.log"
timeout 120 $PY benchmarks/determinism.py ${SMOKE:---preset tiny --configs 2048x8 --steps 3} \
    --out "$OUT/determinism.json" 2>&1 | tee "$OUT/determinism.log"
timeout 90 $STEP --configs 2048x4 --loss f32,det \
    --out "$OUT/train_step_det.json" 2>&1 | tee "$OUT/train_step_det.log"
rm -rf "$OUT"/prof/*/plugins  # the traces are large; the breakdown tables are in the log
$PY benchmarks/tools/gpu_goals.py "$OUT" | tee "$OUT/goals.md"
