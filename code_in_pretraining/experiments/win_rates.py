"""Win-rates of an experiment: LLM-as-a-judge pairs, as the paper measures generative quality.

The paper judges its models pairwise on Dolly-200 (English) prompts (PAPER.md, Evaluation). Here:
- prompts: 200 records of the user's copy of databricks-dolly-15k.jsonl (`cip experiment
  --judge-prompts`), drawn by eval/judge.draw (random.Random(0).sample over the records, listed in
  file order); without a file, the project's own 20 instructions (eval/prompts, not Dolly);
- answers: each (variant, phase) model answers every prompt once, greedily, through the server of
  `cip serve` (eval/serve.py) over HTTP, chat template included;
- pairs: each (variant, phase) against text-only (text_only, else code_sweep_0) at the same stage
  (before the cooldown, or after it) and the same token budget, and each cooldown against the same
  variant before it (no cooldown);
- judgements: the judge, any OpenAI-compatible endpoint, sees each prompt's two answers in both
  orders (eval/judge.judge_pairs); wins, ties and losses are counted apart (judge.win_rate).

Files: DIR/win_rates.json (a list, one entry per pair: the counts, the rates with their standard
errors, the paper's figure where it has one, the setup), DIR/judge/answers/<variant>.<phase>.json
and DIR/judge/pairs/<variant>.<phase>~<against>.<phase>.json (every judgement). A re-run keeps the
answers and judgements made with the same setup.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import pathlib
import threading

from code_in_pretraining.eval import judge, paper_figures
from code_in_pretraining.experiments.grids import Scale
from code_in_pretraining.experiments.runner import Variant, write_json
from code_in_pretraining.model import restore

TEXT_ONLY = ("text_only", "code_sweep_0")  # the text-only models, in order of preference as a baseline


@dataclasses.dataclass(frozen=True)
class Pair:
    variant: str
    phase: str
    against: str
    against_phase: str
    kind: str  # "text-only" or "no cooldown"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.variant, self.phase, self.against, self.against_phase


def _stages(v: Variant) -> list[tuple[str, str, float]]:
    """(phase, "pretrain" or "cooldown", the paper's token budget up to its end) per phase."""
    budgets = itertools.accumulate(ph.tokens for ph in v.plan.phases)
    return [(ph.name, "cooldown" if ph.schedule == "cooldown" else "pretrain", b)
            for ph, b in zip(v.plan.phases, budgets)]


def pairs(variants: list[Variant]) -> list[Pair]:
    """Each (variant, phase) against text-only at its stage and budget; each cooldown against none."""
    by_name = {v.name: v for v in variants}
    text = [(n, *stage) for n in TEXT_ONLY if n in by_name for stage in _stages(by_name[n])]
    out = []
    for v in variants:
        stages = _stages(v)
        for i, (phase, stage, budget) in enumerate(stages):
            base = next(((n, p) for n, p, s, b in text if (s, b) == (stage, budget)), None)
            if base and v.name not in TEXT_ONLY:
                out.append(Pair(v.name, phase, *base, "text-only"))
            if stage == "cooldown" and i and stages[i - 1][1] == "pretrain":
                out.append(Pair(v.name, phase, v.name, stages[i - 1][0], "no cooldown"))
    return out


def _read(path: pathlib.Path, setup: dict) -> dict | None:
    """A cached file's contents when it was made with `setup`."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data if data.get("setup") == setup else None


def answers(root: pathlib.Path, v: Variant, phase: str, prompts: list[str], setup: dict, scale: Scale) -> list[str]:
    """The answers of `v`'s model at the end of `phase`, served as `cip serve` serves it, over HTTP."""
    from code_in_pretraining.eval.lm import LanguageModel
    from code_in_pretraining.eval.serve import make_server
    from code_in_pretraining.eval.tokenizer import default_tokenizer

    path = root / "judge" / "answers" / f"{v.name}.{phase}.json"
    if cached := _read(path, setup):
        return cached["answers"]
    step = v.plan.ends[[ph.name for ph in v.plan.phases].index(phase)]
    _, model = restore.restore_model(root / v.name / "train", step)
    lm = LanguageModel.from_model(model, default_tokenizer(), batch_size=1, max_len=scale.eval_max_len)
    name = f"{v.name}/{phase}"
    server = make_server(lm, "127.0.0.1", 0, model_name=name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = judge.OpenAIClient(f"http://127.0.0.1:{server.server_address[1]}/v1", model=name)
        out = judge.generate_answers(client, prompts, max_tokens=setup["max_tokens"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    write_json(path, {"variant": v.name, "phase": phase, "step": step, "setup": setup, "answers": out})
    return out


def prompt_setup(prompts_file: str | None, max_tokens: int) -> tuple[list[str], dict]:
    """The prompts judged (drawn from the file, or the shipped set) and what identifies them."""
    source = pathlib.Path(prompts_file) if prompts_file else judge.SHIPPED_PROMPTS
    if not source.is_file():
        raise FileNotFoundError(f"--judge-prompts: no such file {source} (a copy of databricks-dolly-15k.jsonl)")
    records = judge.load_prompts(source)
    drawn = judge.draw(len(records))
    setup = {"prompts": {"file": str(source), "sha256": hashlib.sha256(source.read_bytes()).hexdigest()[:12],
                         "records": len(records), "drawn": len(drawn), "seed": judge.DOLLY_SEED,
                         "dolly": prompts_file is not None},
             "max_tokens": max_tokens}
    return [records[i] for i in drawn], setup


def run(root: str | pathlib.Path, variants: list[Variant], scale: Scale, client: judge.OpenAIClient, *,
        prompts_file: str | None = None, max_tokens: int = 256) -> list[dict]:
    """Judges every pair of the trained `variants`; writes and returns DIR/win_rates.json's list."""
    root = pathlib.Path(root)
    prompts, setup = prompt_setup(prompts_file, max_tokens)
    judged_setup = {**setup, "judge": {"url": client.base_url, "model": client.model}}
    by_name = {v.name: v for v in variants}
    todo = pairs(variants)
    print(f"win-rates: {len(todo)} pairs, {len(prompts)} prompts from {setup['prompts']['file']}, "
          f"judge {client.model} at {client.base_url}", flush=True)
    cache: dict[tuple[str, str], list[str]] = {}

    def answered(name: str, phase: str) -> list[str]:
        if (name, phase) not in cache:
            cache[name, phase] = answers(root, by_name[name], phase, prompts, setup, scale)
        return cache[name, phase]

    entries = []
    for pair in todo:
        a, b = answered(pair.variant, pair.phase), answered(pair.against, pair.against_phase)
        path = root / "judge" / "pairs" / f"{pair.variant}.{pair.phase}~{pair.against}.{pair.against_phase}.json"
        if cached := _read(path, judged_setup):
            records = cached["records"]
        else:
            records = judge.judge_pairs(prompts, a, b, client)
            write_json(path, {**dataclasses.asdict(pair), "setup": judged_setup, "records": records})
        entry = {**dataclasses.asdict(pair), **judge.win_rate(records),
                 "paper": paper_figures.WIN_RATES.get(pair.key), "setup": judged_setup}
        print(f"  {pair.variant}/{pair.phase} vs {pair.against}/{pair.against_phase}: {entry['wins']} wins, "
              f"{entry['ties']} ties, {entry['losses']} losses of {entry['judgements']}", flush=True)
        entries.append(entry)
    write_json(root / "win_rates.json", entries)
    return entries
