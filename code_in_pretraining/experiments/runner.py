"""`cip experiment`: train every variant of a grid at a scale, evaluate each after each phase.

Layout of an experiment directory:

    DIR/experiment.json                  grid, scale, gin files and bindings, variants
    DIR/<variant>/train/                 the `cip train` workdir (checkpoints, metrics, TensorBoard)
    DIR/<variant>/results/<phase>.json   `cip eval` results of the phase's last checkpoint

Re-running skips every finished result; a variant whose training stopped resumes
from its last checkpoint, so a crash loses at most the run in progress since its
last checkpoint. Variants that start with the same run as one already trained fork
from its phase-end checkpoint instead of training those phases again (the cooldown
ablation's base is balanced->text; balanced->text's phase 1 is code_sweep_50, and
code->text's code_sweep_100): the same configuration, the same data (mixtures equal
by their tasks and weights, token shards by fingerprint) and the same LR up to the
fork. The loader, optimizer and parameters are restored exactly, so the result is
the same as training the variant from scratch.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import time

from code_in_pretraining.data import materialize, mixtures
from code_in_pretraining.data.phase_plan import Phase, PhasePlan
from code_in_pretraining.experiments.grids import Scale, get_grid, get_scale
from code_in_pretraining.model import restore
from code_in_pretraining.parallel import distributed
from code_in_pretraining.train import config, launch, metrics_log, recipes


@dataclasses.dataclass(frozen=True)
class Variant:
    """One recipe at one scale: its gin configuration and phase plan."""

    name: str
    gin_files: list[str]
    bindings: list[str]
    plan: PhasePlan
    seq_len: int
    run_key: str  # the configuration apart from the recipe: forks need equal keys


def plan_variant(name: str, scale: Scale, bindings: list[str]) -> Variant:
    """Parses the scale's gin files with the recipe's, validating budgets before anything runs."""
    if name not in recipes.recipe_names():
        raise KeyError(f"unknown recipe {name!r}; known recipes: {recipes.recipe_names()}")
    files = [*scale.gin_files, f"recipes/{name}.gin"]
    all_bindings = [*scale.bindings, *bindings]
    cfg = launch.load_config(files, all_bindings)
    key = json.dumps(dataclasses.asdict(dataclasses.replace(cfg, recipe="", phases=())), sort_keys=True,
                     default=str)
    return Variant(name, files, all_bindings, config.phase_plan(cfg), cfg.seq_len, key)


def result_path(root: pathlib.Path, variant: str, phase: str) -> pathlib.Path:
    return root / variant / "results" / f"{phase}.json"


def mixture_data(name: str) -> tuple:
    """What a mixture trains on, its tasks and token weights: two names may be one mixture
    ('balanced' and 'code_sweep_50')."""
    return tuple(sorted((task, round(w, 12)) for task, w in mixtures.mixture_weights(name).items()))


def shares(v: Variant, others: list[Variant]) -> list[tuple[Variant, int]]:
    """(variant, leading phases) of the others whose runs `v` starts with: the same configuration,
    mixtures and LR over those phases (PhasePlan.shared_prefix); the longest first."""
    found = [(o, v.plan.shared_prefix(o.plan, mixture_data)) for o in others
             if o.run_key == v.run_key and o.name != v.name]
    return sorted([(o, n) for o, n in found if n], key=lambda pair: -pair[1])


def same_shards(source: Variant, phases: tuple[Phase, ...], root: pathlib.Path) -> bool:
    """Whether the source run read the token shards these phases would read now (the vocabulary's and
    every task's fingerprint in its plan.json): data set up otherwise since then is not shared."""
    path = root / source.name / "train" / "plan.json"
    recorded = json.loads(path.read_text()).get("fingerprints") if path.exists() else None
    if not recorded:
        return False
    tasks = sorted({t for ph in phases for t in mixtures.mixture_weights(ph.mixture)})
    now = materialize.fingerprints({t: materialize.materialize_shards(t, "train", progress=False) for t in tasks})
    return now["vocabulary"] == recorded.get("vocabulary") and all(
        now["tokens"][t] is not None and now["tokens"][t] == recorded.get("tokens", {}).get(t) for t in tasks)


def fork_source(v: Variant, done: list[Variant], root: pathlib.Path) -> tuple[Variant, int] | None:
    """The trained variant sharing the longest run with `v`, with a checkpoint at its end and the same data."""
    for other, shared in shares(v, done):
        if other.plan.ends[shared - 1] in restore.complete_steps(root / other.name / "train") and \
                same_shards(other, v.plan.phases[:shared], root):
            return other, shared
    return None


def fork(v: Variant, source: Variant, shared: int, root: pathlib.Path) -> None:
    """Starts `v` from `source`'s checkpoint at the end of their `shared` common phases.

    The phase-end checkpoints and results of the shared phases are copied too, so the
    variant's directory is complete on its own.
    """
    src, dst = root / source.name / "train", root / v.name / "train"
    step = source.plan.ends[shared - 1]
    if not restore.complete_steps(dst):
        for end in source.plan.ends[:shared]:
            shutil.copytree(src / "checkpoints" / str(end), dst / "checkpoints" / str(end))
        metrics_log.truncate(dst / "metrics.jsonl", step, source=src / "metrics.jsonl")
    for ph in v.plan.phases[:shared]:
        target, origin = result_path(root, v.name, ph.name), result_path(root, source.name, ph.name)
        if not target.exists() and origin.exists():
            r = json.loads(origin.read_text())
            r.update(variant=v.name, recipe=v.name, name=f"{v.name}/{ph.name}", mixture=ph.mixture,
                     shared_with=source.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(r, indent=2))
    print(f"  {v.name}: forks from {source.name} at step {step} (phases {[p.name for p in v.plan.phases[:shared]]})")


def train_variant(v: Variant, root: pathlib.Path) -> None:
    """Trains what is left of `v`; a variant forked whole still runs, for its own plan.json and config."""
    train_dir = root / v.name / "train"
    if v.plan.total_steps in restore.complete_steps(train_dir) and (train_dir / "plan.json").exists():
        return
    t0, start = time.perf_counter(), max(restore.complete_steps(train_dir), default=0)
    launch.run(v.gin_files, v.bindings, str(train_dir))
    print(f"  {v.name}: trained steps {start} to {v.plan.total_steps} in {time.perf_counter() - t0:.0f} s")


def evaluate_variant(v: Variant, root: pathlib.Path, scale: Scale, scale_name: str, limit: int | None) -> None:
    from flax import nnx

    from code_in_pretraining.eval import perplexity
    from code_in_pretraining.eval import suite
    from code_in_pretraining.eval.lm import LanguageModel
    from code_in_pretraining.eval.tokenizer import default_tokenizer

    train_dir = root / v.name / "train"
    for i, (ph, end) in enumerate(zip(v.plan.phases, v.plan.ends)):
        out = result_path(root, v.name, ph.name)
        if out.exists():
            continue
        t0 = time.perf_counter()
        _, model = restore.restore_model(train_dir, end)
        lm = LanguageModel.from_model(model, default_tokenizer(), batch_size=scale.eval_batch_size,
                                      max_len=scale.eval_max_len)
        print(f"  {v.name}: evaluating phase {ph.name!r} (step {end})")
        r = suite.evaluate(lm, scale.eval_suite, limit=limit, progress=lambda line: print(f"    {line}"))
        if scale.perplexity_tasks:
            graphdef, state = nnx.split(model)
            r["perplexity"] = perplexity.evaluate(graphdef, nnx.to_pure_dict(state), scale.perplexity_tasks,
                                                  seq_len=v.seq_len, batch=16, max_tokens=scale.perplexity_tokens)
            print("    held-out perplexity: " + ", ".join(f"{t} {x['perplexity']:.2f}"
                                                          for t, x in r["perplexity"].items()))
        r.update(name=f"{v.name}/{ph.name}", variant=v.name, recipe=v.name, phase=ph.name, phase_index=i,
                 step=end, tokens=end * v.plan.tokens_per_step, mixture=ph.mixture, scale=scale_name,
                 checkpoint=str(train_dir / "checkpoints" / str(end)), total_wall_s=round(time.perf_counter() - t0, 1),
                 fingerprints=json.loads((train_dir / "plan.json").read_text())["fingerprints"])
        write_json(out, r)


def write_json(path: pathlib.Path, data) -> None:
    """A JSON file of the experiment, complete or absent (written aside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _check_experiment(root: pathlib.Path, record: dict) -> None:
    """One directory holds one configuration: refuse to mix scales or bindings."""
    path = root / "experiment.json"
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("scale", "bindings"):
            if old.get(key) != record[key]:
                raise ValueError(f"{path} was run with {key}={old.get(key)!r}, not {record[key]!r}; "
                                 f"use another --workdir")
        record["variants"] = sorted(set(old.get("variants", [])) | set(record["variants"]),
                                    key=lambda n: (n not in record["variants"], n))
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))


def _ensure_eval_data() -> None:
    from code_in_pretraining.eval import benchmarks, offline

    files = [b.offline_file for b in benchmarks.BENCHMARKS.values() if b.offline_file]
    if not any((offline.eval_dir() / f).exists() for f in files):  # benchmarks missing from a copy are
        # reported as not available in the results
        from code_in_pretraining.eval import fetch

        print(f"fetching offline evaluation files into {offline.eval_dir()}")
        fetch.fetch_evals(None)


def trained_before(root: pathlib.Path, scale: Scale, bindings: list[str], exclude: set[str]) -> list[Variant]:
    """Variants of earlier invocations in this directory that finished training: fork sources."""
    names = sorted(d.parent.name for d in root.glob("*/train") if d.parent.name in recipes.recipe_names())
    plans = [plan_variant(n, scale, bindings) for n in names if n not in exclude]
    return [v for v in plans if v.plan.total_steps in restore.complete_steps(root / v.name / "train")]


def run(grid: str, scale_name: str, workdir: str | pathlib.Path, *, variants: list[str] | None = None,
        bindings: list[str] = (), limit: int | None = -1, evaluate: bool = True) -> dict[str, Variant]:
    """Trains and evaluates the grid's variants in order; returns their plans.

    `limit`: examples per benchmark; -1 takes the scale's, None or 0 all. With several
    processes all of them train; the first one also evaluates and writes the files.
    """
    scale = get_scale(scale_name)
    limit = scale.eval_limit if limit == -1 else (limit or None)
    names = list(variants or get_grid(grid))
    root = pathlib.Path(workdir)
    plans = {n: plan_variant(n, scale, list(bindings)) for n in names}
    chief = distributed.is_chief()
    if chief and scale.default_data:
        from code_in_pretraining.experiments import demo

        demo.prepare_data()
    distributed.barrier("default data")
    if chief:
        _check_experiment(root, {"grid": grid, "scale": scale_name, "gin_files": list(scale.gin_files),
                                 "bindings": list(bindings), "variants": names,
                                 "eval": {"suite": scale.eval_suite, "limit": limit}})
        if evaluate:
            _ensure_eval_data()
    done = trained_before(root, scale, list(bindings), exclude=set(plans))
    t_start = time.perf_counter()
    for i, name in enumerate(names, 1):
        v = plans[name]
        print(f"[{i}/{len(names)}] {name}: " + ", ".join(
            f"{ph.name} {ph.mixture} {n} steps" for ph, n in zip(v.plan.phases, v.plan.steps)), flush=True)
        src = fork_source(v, done, root) if chief else None  # the chief forks; the others train after it
        if src is not None:
            fork(v, *src, root)
        distributed.barrier(f"forked {name}")
        train_variant(v, root)
        if evaluate and chief:
            evaluate_variant(v, root, scale, scale_name, limit)
        distributed.barrier(f"evaluated {name}")
        done.append(v)
    print(f"experiment {grid} at scale {scale_name}: {len(names)} variants in {time.perf_counter() - t_start:.0f} s")
    return plans
