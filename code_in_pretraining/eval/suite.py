"""Run a suite of benchmarks on a model: one results dict, written as JSON by `cip eval`.

Multiple choice: score every (context, choice) pair, predict the argmax of the
summed log-probability (accuracy) and of log-probability per character of the
choice (accuracy_norm). QA: greedy generation up to a newline, exact match.
Code: greedy completion (pass@1) or `samples` sampled completions (pass@k),
each run with the benchmark's tests in the sandbox. Benchmarks whose data is not
available are reported with the reason, never dropped. Examples come from the
SeqIO evaluation tasks (`benchmarks.task_name`), registered by `tasks.evaluation`.
"""

from __future__ import annotations

import time

import numpy as np

from code_in_pretraining.eval import aggregate, benchmarks, code_exec, sandbox
from code_in_pretraining.eval.generate import SamplingConfig

QA_SAMPLING = SamplingConfig(max_new_tokens=32, stop=("\n", ".", ","))


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
    return {"targets": [ex["label"] for ex in examples], "predictions": preds, "predictions_norm": preds_norm}


def run_qa(lm, examples: list[dict]) -> dict:
    outs = lm.generate([ex["inputs"] for ex in examples], QA_SAMPLING)
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
                       samples: int = 1, workers: int = 2) -> dict:
    bench = benchmarks.BENCHMARKS[name]
    entry = {"group": bench.group, "kind": bench.kind, "metric": bench.primary, "source": source}
    why = availability(name, source)
    if why:
        return {**entry, "available": False, "reason": why}
    t0 = time.perf_counter()
    examples = load_examples(name, source=source, limit=limit)
    if bench.kind == "mc":
        out = run_mc(lm, examples)
    elif bench.kind == "qa":
        out = run_qa(lm, examples)
    else:
        out = run_code(lm, examples, samples=samples, workers=workers)
    metrics: dict[str, float] = {}
    for fn in _metric_fns(name, source):
        metrics.update(fn(out["targets"], out["predictions"]))
    if bench.kind == "mc":
        metrics["accuracy_norm"] = _metric_fns(name, source)[0](out["targets"], out["predictions_norm"])["accuracy"]
    samples_out = [{"id": ex["id"], "prediction": p} for ex, p in zip(examples, out["predictions"])][:5]
    if bench.kind == "code":
        samples_out = [{"id": ex["id"], "completion": c[0], "status": s[0]}
                       for ex, c, s in zip(examples, out["completions"], out["status"])][:5]
    return {**entry, "available": True, "n": len(examples), "metrics": metrics,
            "score": metrics[bench.primary], "seconds": round(time.perf_counter() - t0, 2),
            "samples": samples_out}


def evaluate(lm, suite: str = "paper", *, source: str = "offline", limit: int | None = None, samples: int = 1,
             workers: int = 2, progress=print) -> dict:
    names = benchmarks.SUITES[suite]
    t0 = time.perf_counter()
    tasks = {}
    plan = None
    if any(benchmarks.BENCHMARKS[n].kind == "code" for n in names):
        plan = sandbox.describe()  # said once: how every completion below is contained
        if progress:
            progress(f"sandbox: {plan}")
    for name in names:
        tasks[name] = evaluate_benchmark(lm, name, source=source, limit=limit, samples=samples, workers=workers)
        r = tasks[name]
        if progress:
            progress(f"{name:12s} " + (f"{r['metric']}={r['score']:.1f} (n={r['n']}, {r['seconds']}s)"
                                       if r["available"] else r["reason"]))
    return {"suite": suite, "source": source, "limit": limit, "samples": samples, "tasks": tasks,
            "aggregates": aggregate.aggregates(tasks), "sandbox": plan, "wall_s": round(time.perf_counter() - t0, 1)}
