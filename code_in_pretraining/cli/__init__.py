"""The `cip` command line: the only place that parses arguments, one module per group of commands.

    data.py        cip data, vocab, materialize, inspect
    hygiene.py     cip dedup, decontaminate
    train.py       cip train, model-info, export-hf
    evaluate.py    cip eval, lm-eval, perplexity, report, serve, judge
    synth.py       cip synth
    experiment.py  cip experiment, demo

Each command is a pair of functions in its module, NAME_parser() and NAME(argv) ->
exit code; flags.py holds the conventions they share. A command's module is
imported only when it runs, and it imports the library only after its flags are
parsed, so `cip --help` and `cip COMMAND --help` answer without JAX or TensorFlow.
The modules that register SeqIO tasks (`tasks/`) are imported by the commands
that look tasks up, never by the library.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

# name -> (module in this package, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("data", "data", "obtain data: the embedded default corpus, the offline evaluation sets"),
    "vocab": ("data", "vocab", "train a code-safe SentencePiece vocabulary"),
    "materialize": ("data", "materialize", "tokenize tasks into ArrayRecord shards (Apache Beam)"),
    "dedup": ("hygiene", "dedup", "remove near-duplicate documents inside tasks (MinHash LSH, Apache Beam)"),
    "decontaminate": ("hygiene", "decontaminate", "find (and remove) training documents that overlap evaluation sets"),
    "inspect": ("data", "inspect", "run the loader over a mixture or a recipe's phases and report it"),
    "train": ("train", "train", "train (or resume) a run from gin files"),
    "model-info": ("train", "model_info", "parameters, FLOPs per token and memory per device of a preset"),
    "export-hf": ("train", "export_hf", "write a transformers CohereForCausalLM checkpoint"),
    "eval": ("evaluate", "evaluate", "run the paper's benchmarks on a checkpoint -> results JSON"),
    "lm-eval": ("evaluate", "lm_eval", "run lm-evaluation-harness tasks on a checkpoint with our JAX model"),
    "perplexity": ("evaluate", "perplexity", "held-out perplexity per source of a checkpoint"),
    "report": ("evaluate", "report", "results JSONs or an experiment -> tables (Markdown, CSV) and plots"),
    "serve": ("evaluate", "serve", "serve a checkpoint behind OpenAI-compatible HTTP endpoints"),
    "judge": ("evaluate", "judge", "pairwise LLM-as-a-judge win-rate of two models"),
    "synth": ("synth", "synth", "generate verified synthetic Python problems"),
    "experiment": ("experiment", "experiment", "train and evaluate a grid of recipes at a scale, then report"),
    "demo": ("experiment", "demo", "train text-only and text+code tiny models, compare perplexity"),
}
# Mistakes in what the user asked for: one line, exit 2. Anything else is a bug and keeps its traceback.
USER_ERRORS = (FileNotFoundError, KeyError, ValueError)


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: cip COMMAND [FLAGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run `cip COMMAND --help` for a command's flags. Flags take dashes or underscores "
                  "(--gin-file, --gin_file). Set CIP_DEBUG=1 to see tracebacks of configuration errors."]
    return "\n".join(lines)


def command(name: str):
    """(parser factory, runner) of command `name`."""
    module_name, func, _ = COMMANDS[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, f"{func}_parser"), getattr(module, func)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cip: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    _quiet_libraries()
    from code_in_pretraining.cli.flags import UsageError

    try:
        return int(command(name)[1](rest) or 0)
    except (UsageError, *USER_ERRORS) as e:
        from code_in_pretraining.train.launch import ConfigError  # gin and dataclasses: cheap

        if os.environ.get("CIP_DEBUG"):
            traceback.print_exc()
        what = "configuration error: " if isinstance(e, ConfigError) else ""
        print(f"cip {name}: {what}{e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # a NaN stopped training; the message names the step and checkpoint
        print(f"cip {name}: {e}", file=sys.stderr)
        return 1


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a caller may have swapped it since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def _quiet_libraries() -> None:
    """TensorFlow's and SentencePiece's chatter off (a user's own TF_CPP_MIN_LOG_LEVEL wins); the
    project's INFO logs (phase switches, resumes, epochs) on stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import sentencepiece

    sentencepiece.set_min_log_level(2)  # "precompiled_charsmap is empty" on every load of a code-safe vocabulary
    logger = logging.getLogger("code_in_pretraining")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # not twice where a library configured the root logger
