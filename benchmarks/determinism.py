"""Does the train step give the same bits twice? Each mode runs twice, in fresh processes.

A run resumed after a crash is a new process: it compiles the step again (on a GPU,
autotuning its kernels again) and must then produce the bits the interrupted run would
have. Here each of two modes, the default kernels and TrainConfig.deterministic's
(train/determinism.py, its autotuning kept in a directory both processes share), runs
`--steps` steps from the same initial parameters on the same packed batch in two
processes; the losses (as float hex) and a SHA-256 of the final parameters are compared.
Exit 1 if the deterministic mode differs. On a CPU both modes are identical.

    PYTHONPATH=. python benchmarks/determinism.py --preset tiny --configs 2048x8 --steps 3
    PYTHONPATH=. python benchmarks/determinism.py --smoke  # CPU, seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root
from benchmarks import train_step  # noqa: E402

MODES = {"default kernels": "f32", "deterministic": "det"}


def run_once(preset: str, seq_len: int, batch: int, steps: int, mean_doc: int, mode: str, attention: str,
             autotune_dir: str | None) -> dict:
    """Losses (hex) per step, the parameters' SHA-256 and the median step time of one process."""
    from code_in_pretraining.model.config import get_preset

    cfg = get_preset(preset, dtype="bfloat16", attention_impl=attention)
    step, params, opt_state, data = train_step._setup(cfg, batch, seq_len, mean_doc, train_step.LOSSES[mode],
                                                      autotune_dir=autotune_dir)
    losses, times = [], []
    for s in range(steps):
        t0 = time.perf_counter()
        params, opt_state, metrics = step(params, opt_state, data, s)
        losses.append(float(metrics["loss"]).hex())
        times.append(time.perf_counter() - t0)
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(jax.device_get(params)):
        digest.update(np.ascontiguousarray(leaf).tobytes())
    return {"losses": losses, "params_sha256": digest.hexdigest(), "step_ms": 1e3 * float(np.median(times[1:] or times)),
            "device": jax.devices()[0].device_kind, "jax": jax.__version__}


def _child(args, mode: str, autotune_dir: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--preset", args.preset, "--configs", args.configs,
           "--steps", str(args.steps), "--mean-doc", str(args.mean_doc), "--attention", args.attention]
    if autotune_dir:
        cmd += ["--autotune-dir", autotune_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--configs", default="2048x8", help="one seq_len x batch")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--mean-doc", type=int, default=1024)
    parser.add_argument("--attention", default="auto")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--child", choices=sorted(MODES.values()), help=argparse.SUPPRESS)
    parser.add_argument("--autotune-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.preset, args.configs, args.steps, args.mean_doc, args.attention = "tiny", "128x2", 2, 32, "xla"
    seq_len, batch = (int(x) for x in args.configs.split("x"))
    if args.child:
        result = run_once(args.preset, seq_len, batch, args.steps, args.mean_doc, args.child, args.attention,
                          args.autotune_dir)
        print(json.dumps(result))
        return 0

    # This process never touches a device: on a GPU it would hold the memory its children need.
    rows, failed = [], False
    for label, mode in MODES.items():
        with tempfile.TemporaryDirectory() as autotune:
            first, second = (_child(args, mode, autotune if mode == "det" else None) for _ in range(2))
        if not rows:
            print(f"{args.preset}, {seq_len} x {batch}, {args.steps} steps, on {first['device']}, jax {first['jax']}: "
                  f"two fresh processes per mode\n")
            print("| kernels | losses equal | parameters equal | step ms, run 1 / run 2 |")
            print("|---|---|---|---:|")
        same_losses = first["losses"] == second["losses"]
        same_params = first["params_sha256"] == second["params_sha256"]
        failed |= mode == "det" and not (same_losses and same_params)
        rows.append({"mode": label, "runs": [first, second], "losses_equal": same_losses,
                     "params_equal": same_params})
        print(f"| {label} | {'yes' if same_losses else 'no'} | {'yes' if same_params else 'no'} | "
              f"{first['step_ms']:.2f} / {second['step_ms']:.2f} |", flush=True)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps({"preset": args.preset, "configs": args.configs,
                                                      "steps": args.steps, "rows": rows}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
