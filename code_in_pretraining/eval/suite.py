"""Run a suite of benchmarks on a model: one results dict, written as JSON by `cip eval`.

Multiple choice: score every (context, choice) pair, predict the argmax of the
summed log-probability (accuracy) and of log-probability per character of the
choice (accuracy_norm). QA: greedy generation up to the benchmark's stop strings,
exact match or F1. Code: greedy completion (pass@1) or `samples` sampled
completions (pass@k), each run with the benchmark's tests in the sandbox.

Every task also reports `bpb`, the bits per UTF-8 byte of its gold continuation
(benchmarks.gold) under the model, averaged over examples: -log2 p(gold | context)
/ bytes(gold). It orders small models where accuracy sits at chance. Each task
keeps its per-example values of the primary metric and of BPB ("per_example"),
from which the scores' standard errors ("score_se", "bpb_se") and the report's
intervals are bootstrapped (uncertainty.py). Benchmarks whose data is not
available are reported with the reason, never dropped. Examples come from the
SeqIO evaluation tasks (`benchmarks.task_name`), registered by `tasks.evaluation`.
Given a decontamination report (`cip decontaminate`), each benchmark is scored on its
clean examples only: those the report did not find in the training data.
"""

from __future__ import annotations

import math
import time

import numpy as np

from code_in_pretraining.eval import aggregate, benchmarks, code_exec, contamination, metrics, sandbox, uncertainty
from code_in_pretraining.eval.generate import SamplingConfig


def load_examples(name: str, *, source: str = "offline", limit: int | None = None) -> list[dict]:
    """Canonical examples of a benchmark from its SeqIO task (first `limit`)."""
    from code_in_pretraining.data import mixtures
    task = mixtures.get_task(benchmarks.task_name(name, source))
    ds = task.source.get_dataset(task.source.splits[0], shuffle=False)
    if limit:
        ds = ds.take(limit)
    return [_decode(ex) for ex in ds.as_numpy_iterator()]


def _decode(ex: dict) -> dict:
    def s(x):
        return x.decode("utf-8") if isinstance(x, bytes) else x
    return {"id": s(ex["id"]), "inputs": s(ex["inputs"]), "contexts": [s(x) for x in ex["contexts"]],
            "choices": [s(x) for x in ex["choices"]], "label": int(ex["label"]),
            "answers": [s(x) for x in ex["answers"]], "meta": s(ex["meta"])}


def availability(name: str, source: str = "offline") -> str | None:
    """None if the benchmark can run from `source`, else why not."""
    from code_in_pretraining.eval import offline
    bench = benchmarks.BENCHMARKS[name]
    if source == "tfds":
        return None
    if not bench.offline_file:
        return f"not available: no offline copy (real loader: TFDS {bench.tfds_name!r}, task eval_{name}_tfds)"
    path = offline.eval_dir() / bench.offline_file
    if not path.exists():
        return f"not available: {path} missing (run `cip data fetch-evals` or set CIP_EVAL_DIR)"
    return None


def _metric_fns(name: str, source: str):
    from code_in_pretraining.data import mixtures
    return mixtures.get_task(benchmarks.task_name(name, source)).metric_fns


def run_mc(lm, examples: list[dict]) -> dict:
    requests, owners = [], []
    for i, ex in enumerate(examples):
        contexts = ex["contexts"] or [ex["inputs"]] * len(ex["choices"])
        for ctx, choice in zip(contexts, ex["choices"], strict=True):
            requests.append((ctx, choice))
            owners.append(i)
    scores = lm.loglikelihood(requests)
    per = [[] for _ in examples]
    for (ctx, choice), (lp, _), i in zip(requests, scores, owners):
        per[i].append((lp, lp / max(len(choice), 1)))
    preds = [int(np.argmax([s for s, _ in p])) for p in per]
    preds_norm = [int(np.argmax([n for _, n in p])) for p in per]
    return {"targets": [ex["label"] for ex in examples], "predictions": preds, "predictions_norm": preds_norm,
            "gold_logprobs": [p[ex["label"]][0] for p, ex in zip(per, examples)]}


def bits_per_byte(lm, pairs: list[tuple[str, str] | None], logprobs: list[float] | None = None) -> list:
    """-log2 p(continuation | context) / UTF-8 bytes of the continuation, per (context, continuation);
    None where there is none. `logprobs`: the pairs' log-likelihoods where already scored."""
    if logprobs is None:
        scored = iter(lm.loglikelihood([p for p in pairs if p]))
        logprobs = [next(scored)[0] if p else None for p in pairs]
    return [lp / -math.log(2) / len(p[1].encode("utf-8")) if p else None for p, lp in zip(pairs, logprobs)]


def run_qa(lm, examples: list[dict], bench: benchmarks.Benchmark) -> dict:
    sampling = SamplingConfig(max_new_tokens=bench.max_new_tokens, stop=bench.stop)
    outs = lm.generate([ex["inputs"] for ex in examples], sampling)
    return {"targets": [ex["answers"] for ex in examples], "predictions": [o.strip() for o in outs]}


def run_code(lm, examples: list[dict], *, samples: int = 1, temperature: float = 0.8, max_new_tokens: int = 256,
             workers: int = 2) -> dict:
    completions: list[list[str]] = [[] for _ in examples]
    by_stop: dict[tuple, list[int]] = {}
    for i, ex in enumerate(examples):
        by_stop.setdefault(code_exec.stop_strings(ex), []).append(i)
    for stop, idx in by_stop.items():
        for s in range(samples):
            greedy = samples == 1
            cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0 if greedy else temperature,
                                 top_p=1.0 if greedy else 0.95, stop=stop)
            outs = lm.generate([examples[i]["inputs"] for i in idx], cfg, seed=s)
            for i, o in zip(idx, outs):
                completions[i].append(o)
    results = code_exec.run_completions(examples, completions, workers=workers)
    return {"targets": [ex["id"] for ex in examples], "predictions": [[r.passed for r in rs] for rs in results],
            "completions": completions, "status": [[r.status for r in rs] for rs in results]}


def evaluate_benchmark(lm, name: str, *, source: str = "offline", limit: int | None = None,
                       samples: int = 1, workers: int = 2, contamination_report: dict | None = None) -> dict:
    bench = benchmarks.BENCHMARKS[name]
    entry = {"group": bench.group, "kind": bench.kind, "metric": bench.primary, "source": source}
    why = availability(name, source)
    if why:
        return {**entry, "available": False, "reason": why}
    t0 = time.perf_counter()
    if contamination_report is not None:
        if source != "offline":
            raise ValueError("--clean-only needs the offline evaluation files, which the report was made from")
        dirty = contamination.contaminated_indices(contamination_report, name)
        read = load_examples(name, source=source, limit=limit + len(dirty) if limit else None)  # enough clean ones
        examples = [ex for i, ex in enumerate(read) if i not in dirty][:limit]
        entry = {**entry, "clean_only": True, "contaminated_left_out": len(dirty)}
    else:
        examples = load_examples(name, source=source, limit=limit)
    if bench.kind == "mc":
        out = run_mc(lm, examples)
    elif bench.kind == "qa":
        out = run_qa(lm, examples, bench)
    else:
        out = run_code(lm, examples, samples=samples, workers=workers)
    found: dict[str, float] = {}
    for fn in _metric_fns(name, source):
        found.update(fn(out["targets"], out["predictions"]))
    if bench.kind == "mc":
        found["accuracy_norm"] = _metric_fns(name, source)[0](out["targets"], out["predictions_norm"])["accuracy"]
    predictions = out["predictions_norm"] if bench.primary == "accuracy_norm" else out["predictions"]
    per_example = {"score": metrics.per_example(bench.primary, out["targets"], predictions),
                   "bpb": bits_per_byte(lm, [benchmarks.gold(ex, bench.kind) for ex in examples],
                                        out.get("gold_logprobs"))}
    bpb = [b for b in per_example["bpb"] if b is not None]
    bpb = float(np.mean(bpb)) if bpb else None
    samples_out = [{"id": ex["id"], "prediction": p} for ex, p in zip(examples, out["predictions"])][:5]
    if bench.kind == "code":
        samples_out = [{"id": ex["id"], "completion": c[0], "status": s[0]}
                       for ex, c, s in zip(examples, out["completions"], out["status"])][:5]
    return {**entry, "available": True, "n": len(examples), "metrics": found, "score": found[bench.primary],
            "score_se": uncertainty.standard_error(uncertainty.task_draws(name, per_example["score"])),
            "bpb": bpb, "bpb_se": uncertainty.standard_error(uncertainty.task_draws(name, per_example["bpb"])),
            "gold": benchmarks.GOLD[bench.kind], "seconds": round(time.perf_counter() - t0, 2),
            "samples": samples_out, "per_example": per_example}


def _line(r: dict) -> str:
    if not r["available"]:
        return r["reason"]
    bpb = "n/a" if r["bpb"] is None else f"{r['bpb']:.3f}"
    return f"{r['metric']}={r['score']:.1f} bpb={bpb} (n={r['n']}, {r['seconds']}s)"


def evaluate(lm, suite: str = "paper", *, source: str = "offline", limit: int | None = None, samples: int = 1,
             workers: int = 2, progress=print, contamination_report: dict | None = None) -> dict:
    """`contamination_report`: score each benchmark on the examples it does not list."""
    names = benchmarks.SUITES[suite]
    t0 = time.perf_counter()
    tasks = {}
    plan = None
    if any(benchmarks.BENCHMARKS[n].kind == "code" for n in names):
        plan = sandbox.describe()  # said once: how every completion below is contained
        if progress:
            progress(f"sandbox: {plan}")
    for name in names:
        tasks[name] = evaluate_benchmark(lm, name, source=source, limit=limit, samples=samples, workers=workers,
                                         contamination_report=contamination_report)
        if progress:
            progress(f"{name:12s} {_line(tasks[name])}")
    return {"suite": suite, "source": source, "limit": limit, "samples": samples,
            "clean_only": contamination_report is not None, "tasks": tasks, "sandbox": plan,
            "aggregates": aggregate.aggregates(tasks), "wall_s": round(time.perf_counter() - t0, 1)}
