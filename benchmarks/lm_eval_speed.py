"""lm-eval requests per second: our `cip` backend (JAX) against lm-eval's `hf` backend (PyTorch).

One model, twice: a tiny-preset decoder (random weights: the same arithmetic as a
trained one) saved as our checkpoint and exported with `cip export-hf` (float32,
with its tokenizer). One offline task's loglikelihood requests, built once by
lm-eval (`--task`, `--limit` documents), go through each backend's
`loglikelihood`, the same batch size for both. Ours is timed twice: the first pass
includes XLA compilation (one program per length bucket), the second is what a
long run sees. The largest |difference| of the two backends' log-likelihoods is
printed too. Appends a section to benchmarks/RESULTS.md.

Usage: python benchmarks/lm_eval_speed.py [--task hellaswag_offline] [--limit 250] [--batch-size 16] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import tempfile
import time

RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")


def make_checkpoint(tmp: pathlib.Path, preset: str) -> tuple[pathlib.Path, pathlib.Path]:
    """(our checkpoint, its `cip export-hf` directory) of a random model over the default vocabulary."""
    from flax import nnx

    from code_in_pretraining.cli import main
    from code_in_pretraining.eval.tokenizer import default_tokenizer
    from code_in_pretraining.model.config import get_preset
    from code_in_pretraining.model.decoder import Decoder
    from code_in_pretraining.train.checkpoint import save_model

    cfg = get_preset(preset, vocab_size=default_tokenizer().vocab_size, dtype="float32")
    ckpt = save_model(tmp / "run", Decoder(cfg, rngs=nnx.Rngs(0)))
    assert main(["export-hf", "--checkpoint", str(ckpt), "--out", str(tmp / "hf")]) == 0
    return ckpt, tmp / "hf"


def requests(task_name: str, limit: int, tmp: pathlib.Path) -> list:
    from lm_eval.tasks import TaskManager

    from code_in_pretraining.eval import lmeval_tasks

    lmeval_tasks.write_task_dir(tmp / "tasks")
    task = TaskManager(include_path=str(tmp / "tasks")).load([task_name])["tasks"][task_name]
    task.build_all_requests(limit=limit)
    return [inst for inst in task.instances if inst.request_type == "loglikelihood"]


def timed(lm, reqs) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = lm.loglikelihood(reqs, disable_tqdm=True)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="hellaswag_offline")
    parser.add_argument("--limit", type=int, default=250, help="documents of the task")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from lm_eval.models.huggingface import HFLM

    from code_in_pretraining.eval.lmeval import CipLM

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        ckpt, hf_dir = make_checkpoint(tmp, args.preset)
        reqs = requests(args.task, args.limit, tmp)
        hf = HFLM(pretrained=str(hf_dir), dtype="float32", device="cpu", batch_size=args.batch_size)
        hf_s, hf_out = timed(hf, reqs)
        cip = CipLM(checkpoint=str(ckpt), batch_size=args.batch_size)
        cold_s, _ = timed(cip, reqs)
        warm_s, cip_out = timed(cip, reqs)
    n = len(reqs)
    diff = max(abs(a[0] - b[0]) for a, b in zip(hf_out, cip_out))
    greedy_same = sum(a[1] == b[1] for a, b in zip(hf_out, cip_out))
    rows = [("lm-eval `hf` (PyTorch, exported model)", hf_s),
            ("lm-eval `cip` (JAX), first pass, with compilation", cold_s),
            ("lm-eval `cip` (JAX), second pass", warm_s)]
    table = ["| backend | requests | seconds | requests/s | vs hf |", "|---|---:|---:|---:|---:|"]
    table += [f"| {name} | {n} | {s:.2f} | {n / s:.1f} | {hf_s / s:.2f}x |" for name, s in rows]
    cmd = (f"python benchmarks/lm_eval_speed.py --task {args.task} --limit {args.limit} "
           f"--batch-size {args.batch_size} --preset {args.preset}")
    notes = (f"Task {args.task}, {args.limit} documents, {n} loglikelihood requests; batch size "
             f"{args.batch_size} for both; preset {args.preset}, float32. Largest |log-likelihood difference| "
             f"{diff:.2e} nats; is_greedy equal on {greedy_same}/{n}. Machine: {platform.machine()}, "
             f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), Python "
             f"{platform.python_version()}; {datetime.date.today().isoformat()}.")
    section = "\n".join(["", "## lm-eval backends: `cip` (JAX) vs `hf` (PyTorch)", "", f"Command: `{cmd}`", "",
                         *table, "", notes, ""])
    print(section)
    if not args.no_write:
        with RESULTS.open("a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
