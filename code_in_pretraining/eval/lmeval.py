"""lm-evaluation-harness on our JAX model: lm-eval's `cip` model, and a run of lm-eval's evaluator.

lm-eval finds models in a registry that modules fill when imported; importing this
module registers `cip`, so from Python:

    import lm_eval
    import code_in_pretraining.eval.lmeval  # registers the `cip` model
    lm_eval.simple_evaluate(model="cip", model_args="checkpoint=runs/x", tasks=["arc_easy"])

and `cip lm-eval` (cli/evaluate.py) imports it for the command line. `CipLM` is a
`TemplateLM`, lm-eval's base class for tokenising backends, so a (context,
continuation) pair becomes tokens exactly as in lm-eval's `hf` backend (trailing
spaces of the context move to the continuation; the pair is encoded whole and split
at the context's length). The token pairs are scored by eval/scoring.py (sorted by
length, longest first, in padded batches compiled once per length bucket; only the
continuation's positions are projected to the vocabulary); generation runs
eval/generate.py's KV cache, requests grouped by their generation arguments and
sorted by length as lm-eval's backends do.
"""

from __future__ import annotations

import logging
import tempfile

from tqdm import tqdm

INSTALL = "lm-eval is not installed: pip install -e '.[lmeval]' (or pip install 'code-in-pretraining[lmeval]')"
try:
    from lm_eval import utils as lm_utils
    from lm_eval.api.model import TemplateLM
    from lm_eval.api.registry import register_model
    from lm_eval.models.utils import Collator, normalize_gen_kwargs
except ModuleNotFoundError as e:
    raise ModuleNotFoundError(f"{INSTALL} ({e})", name=e.name) from None

from code_in_pretraining.eval import generate, lmeval_tasks, scoring
from code_in_pretraining.eval import tokenizer as tok
from code_in_pretraining.eval.lm import LanguageModel

log = logging.getLogger(__name__)
# Generation arguments lm-eval tasks pass that our sampler reads (after normalize_gen_kwargs).
SAMPLING_KEYS = {"until", "max_gen_toks", "do_sample", "temperature", "top_p"}


@register_model("cip")
class CipLM(TemplateLM):
    """A checkpoint of ours (a training workdir or its checkpoints directory) as an lm-eval model.

    model_args: checkpoint, step (default: the latest), tokenizer (a SentencePiece model,
    'bytes', default: the project's vocabulary), batch_size, max_length (default: the
    model's), max_gen_toks, seed (for sampled generation).
    """

    def __init__(self, checkpoint: str, step: int | None = None, tokenizer: str | None = None,
                 batch_size: int | str = 16, max_length: int | None = None, max_gen_toks: int = 256,
                 seed: int = 0, **other):
        super().__init__()
        if other.pop("device", None) not in (None, "cpu", "cuda"):  # simple_evaluate passes its own
            log.warning("cip: the device is JAX's default; model_args device is ignored")
        other.pop("max_batch_size", None)
        if other:
            raise ValueError(f"cip model_args: unknown {sorted(other)}; known: checkpoint, step, tokenizer, "
                             "batch_size, max_length, max_gen_toks, seed")
        batch = 16 if str(batch_size).startswith("auto") else int(batch_size)  # "auto": our default
        self.lm = LanguageModel.from_checkpoint(checkpoint, tok.from_name(tokenizer), step=step, batch_size=batch,
                                                max_len=max_length)
        self.checkpoint, self._max_gen_toks, self.seed = str(checkpoint), int(max_gen_toks), int(seed)

    # -- what lm-eval asks of a model ---------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.lm.tokenizer.eos_id

    @property
    def max_length(self) -> int:
        return self.lm.length

    @property
    def max_gen_toks(self) -> int:
        return self._max_gen_toks

    @property
    def batch_size(self) -> int:
        return self.lm.batch_size

    @property
    def tokenizer_name(self) -> str:
        return type(self.lm.tokenizer).__name__

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.lm.tokenizer.encode(string)  # our vocabularies add no special tokens

    def get_model_info(self) -> dict:
        import jax

        n = sum(x.size for x in jax.tree.leaves(self.lm.params))
        return {"model_num_parameters": int(n), "model_dtype": self.lm.cfg.dtype, "checkpoint": self.checkpoint}

    # -- requests -----------------------------------------------------------------------------------
    def _score(self, pairs: list[tuple[list[int], list[int]]], desc: str, disable_tqdm: bool):
        with tqdm(total=len(pairs), desc=desc, disable=disable_tqdm) as bar:
            return scoring.loglikelihood(self.lm.graphdef, self.lm.params, pairs, max_len=self.max_length,
                                         batch_size=self.batch_size, progress=bar.update)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """requests: ((context, continuation) strings, context ids, continuation ids)."""
        out = self._score([(ctx, cont) for _, ctx, cont in requests], "cip loglikelihood", disable_tqdm)
        for (key, _, _), answer in zip(requests, out):
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, answer)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Whole-text log-likelihood in disjoint windows of max_length tokens, each predicted once
        (lm-eval's windowing; the first token is predicted from EOS)."""
        owners, pairs = [], []
        for i, (text,) in enumerate(req.args for req in requests):
            windows = lm_utils.get_rolling_token_windows(token_list=self.tok_encode(text),
                                                         prefix_token=self.prefix_token_id,
                                                         max_seq_len=self.max_length, context_len=1)
            for ctx, cont in map(lm_utils.make_disjoint_window, windows):
                owners.append(i)
                pairs.append((list(ctx), list(cont)))
        totals = [0.0] * len(requests)
        for i, (logprob, _) in zip(owners, self._score(pairs, "cip loglikelihood_rolling", disable_tqdm)):
            totals[i] += logprob
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Batches of one set of generation arguments, longest prompt first; greedy unless do_sample."""
        args = [req.args for req in requests]
        collator = Collator(args, sort_fn=lambda a: (-len(self.tok_encode(a[0])), a[0]), group_by="gen_kwargs",
                            group_fn=lambda a: a[1])
        out: list[str] = []
        with tqdm(total=len(args), desc="cip generate_until", disable=disable_tqdm) as bar:
            for chunk in collator.get_batched(n=self.batch_size):
                contexts, all_kwargs = zip(*chunk)
                texts = self.lm.generate(list(contexts), self._sampling(all_kwargs[0]), seed=self.seed)
                for (context, gen_kwargs), text in zip(chunk, texts):
                    self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
                out += texts
                bar.update(len(chunk))
        return collator.get_original(out)

    def _sampling(self, gen_kwargs: dict) -> generate.SamplingConfig:
        kw = normalize_gen_kwargs(gen_kwargs, self.max_gen_toks)
        unknown = sorted(set(kw) - SAMPLING_KEYS)
        if unknown:
            log.warning("cip: generation arguments %s are not supported and are ignored", unknown)
        until = kw.get("until") or []
        sample = bool(kw.get("do_sample"))
        return generate.SamplingConfig(max_new_tokens=int(kw["max_gen_toks"]),
                                       temperature=float(kw.get("temperature", 0.0)) if sample else 0.0,
                                       top_p=float(kw.get("top_p") or 1.0) if sample else 1.0,
                                       stop=tuple([until] if isinstance(until, str) else until))


# -- a run of lm-eval's evaluator (`cip lm-eval`) ------------------------------------------------------
def evaluate(checkpoint: str, tasks: list[str], *, num_fewshot: int | None = None, limit: float | None = None,
             output_path: str | None = None, include_paths: tuple[str, ...] = (), log_samples: bool = False,
             model_args: dict | None = None, offline_dir: str | None = None) -> dict:
    """lm-eval's simple_evaluate with the `cip` model over the offline tasks, `include_paths` and
    lm-eval's own tasks; with `output_path`, lm-eval's results (and samples) files there."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    with tempfile.TemporaryDirectory(prefix="cip-lmeval-tasks-") as task_dir:
        offline = lmeval_tasks.write_task_dir(task_dir, offline_dir)
        absent = dict(offline["missing"])
        if any(t in absent for t in tasks):
            raise FileNotFoundError("; ".join(f"{t} needs {absent[t]} (run `cip data fetch-evals`)"
                                              for t in tasks if t in absent))
        manager = task_manager(tasks, [task_dir, *include_paths])
        tracker = EvaluationTracker(output_path=output_path)
        results = simple_evaluate(model="cip", model_args={"checkpoint": str(checkpoint), **(model_args or {})},
                                  tasks=list(tasks), num_fewshot=num_fewshot, limit=limit, task_manager=manager,
                                  log_samples=log_samples, evaluation_tracker=tracker)
    samples = results.pop("samples", None)
    if output_path:
        tracker.save_results_aggregated(results=results, samples=samples)
        for name in samples or {}:
            tracker.save_results_samples(task_name=name, samples=samples[name])
    if samples:
        results["samples"] = samples
    return results


def task_manager(tasks: list[str], include_paths: list[str]):
    """lm-eval's TaskManager over `include_paths`, and over lm-eval's own tasks only where a name needs
    them (indexing its thousands of task files takes seconds). Unknown names: a ValueError naming them."""
    from lm_eval.tasks import TaskManager

    def unknown(manager) -> list[str]:  # patterns and YAML paths are lm-eval's to resolve
        return [t for t in tasks if t not in manager.all_tasks and not any(c in t for c in "*?/")]

    patterns = any(c in t for t in tasks for c in "*?")
    manager = None if patterns else TaskManager(include_path=include_paths, include_defaults=False)
    if manager is None or unknown(manager):
        manager = TaskManager(include_path=include_paths)
    if unknown(manager):
        raise ValueError(f"unknown lm-eval task(s): {', '.join(unknown(manager))}. Offline tasks: "
                         f"{', '.join(lmeval_tasks.task_names())} (`cip data fetch-evals`); lm-eval's own tasks "
                         "read their data from the Hugging Face hub")
    return manager


def table(results: dict) -> str:
    """lm-eval's own results table (and its groups table, where there are groups)."""
    from lm_eval.utils import make_table

    out = make_table(results)
    return out + "\n" + make_table(results, "groups") if results.get("groups") else out
