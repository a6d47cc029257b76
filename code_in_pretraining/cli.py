"""The `cip` command line: one dispatcher, each subcommand in its own module.

Subcommands are imported lazily so that `cip --help` and light commands do not
pay for TensorFlow or JAX start-up.
"""

from __future__ import annotations

import importlib
import logging
import sys

# name -> ("module:function", one-line help). Each function takes argv (list of str)
# and returns an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("code_in_pretraining.demo:main", "train text-only and text+code tiny models, compare perplexity"),
    "train": ("code_in_pretraining.train.main:main", "train from gin files: --gin_file=... --gin_bindings=..."),
    "vocab": ("code_in_pretraining.data.vocab:main", "train a code-safe SentencePiece vocabulary"),
    "data": ("code_in_pretraining.data.corpus:main", "obtain data: 'cip data fetch-default'"),
    "materialize": ("code_in_pretraining.data.beam_materialize:main", "tokenize tasks into ArrayRecord shards (Apache Beam)"),
    "inspect": ("code_in_pretraining.data.inspect:main", "run the loader over a mixture or recipe and report it"),
    "perplexity": ("code_in_pretraining.eval.perplexity:main", "held-out per-source perplexity of a checkpoint"),
    "model-info": ("code_in_pretraining.model.info:main", "parameters, FLOPs/token, memory per device of a preset"),
    "export-hf": ("code_in_pretraining.model.export_hf:main", "write a transformers CohereForCausalLM checkpoint"),
    "synth": ("code_in_pretraining.synthetic.cli:main", "generate verified synthetic Python problems"),
    "eval": ("code_in_pretraining.eval.runner:main", "run the paper's benchmarks on a checkpoint -> results JSON"),
    "report": ("code_in_pretraining.eval.report:main", "results JSONs -> headline table (Markdown, CSV) and plots"),
    "experiment": ("code_in_pretraining.experiments.runner:main",
                   "train and evaluate a grid of recipes at a scale (toy: this machine)"),
    "serve": ("code_in_pretraining.eval.serve:main", "serve a checkpoint behind OpenAI-compatible HTTP endpoints"),
    "judge": ("code_in_pretraining.eval.judge:main", "pairwise LLM-as-a-judge win-rate of two generation files"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: cip COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cip: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    _log_to_stderr()
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


def _log_to_stderr() -> None:
    """The project's INFO logs (phase switches, resumes, epochs) on stderr; other libraries stay quiet."""
    logger = logging.getLogger("code_in_pretraining")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # not twice where a library configured the root logger


if __name__ == "__main__":
    sys.exit(main())
