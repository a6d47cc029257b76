"""The command line's one policy: the parser every command uses, its error, the flags commands share.

- A flag is spelled with dashes (`--gin-file`); the underscore spelling (`--gin_file`,
  as absl-style tools write it) is accepted for every flag too.
- `--help` shows every flag's default; building a parser imports neither JAX nor
  TensorFlow, so `--help` answers at once.
- A mistake in what the user asked for raises UsageError (or FileNotFoundError,
  KeyError, ValueError from the library): one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap

DEFAULT_MODULE_IMPORTS = ("tasks",)


class UsageError(Exception):
    """A mistake in a command's arguments or inputs: reported in one line, exit code 2."""


class _Formatter(argparse.HelpFormatter):
    """Description paragraphs wrapped, indented ones kept as written (examples); each flag's
    default after its help, unless it says nothing."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(textwrap.indent(para, indent) if para.startswith(" ") else
                            textwrap.fill(" ".join(para.split()), width, initial_indent=indent,
                                          subsequent_indent=indent)
                            for para in text.strip("\n").split("\n\n"))

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.required or any(action.default is v for v in (None, False, argparse.SUPPRESS)) \
                or action.default == []:
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with the project's conventions (module docstring)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(None if args is None else self._dashes(args), namespace)

    def _dashes(self, args: list[str]) -> list[str]:
        """`--a_b[=v]` -> `--a-b[=v]` where only the dashed spelling is a flag of this parser."""
        out = []
        for arg in args:
            name, eq, value = arg.partition("=")
            dashed = name.replace("_", "-")
            if arg.startswith("--") and name not in self._option_string_actions \
                    and dashed in self._option_string_actions:
                arg = dashed + eq + value
            out.append(arg)
        return out


def add_checkpoint(parser: Parser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="a training workdir (its latest complete step) or its checkpoints directory")


def add_module_imports(parser: Parser) -> None:
    parser.add_argument("--module-import", action="append", default=None, metavar="MODULE",
                        help="a module that registers SeqIO tasks and mixtures, imported before anything is "
                             f"looked up; repeatable (default: {', '.join(DEFAULT_MODULE_IMPORTS)})")


def import_modules(args: argparse.Namespace) -> tuple[str, ...]:
    """Imports the registrations the command needs (as T5X gin files import their task modules)."""
    modules = tuple(getattr(args, "module_import", None) or DEFAULT_MODULE_IMPORTS)
    import_tensorflow_quietly()  # SeqIO tasks need it
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            raise UsageError(f"--module-import {name}: no such module") from None
    return modules


def add_distributed(parser: Parser) -> None:
    g = parser.add_argument_group("multi-process")
    g.add_argument("--distributed", action="store_true",
                   help="initialise jax.distributed, detecting the cluster (TPU VM pods, Slurm, ...)")
    g.add_argument("--coordinator-address", default=os.environ.get("JAX_COORDINATOR_ADDRESS"),
                   help="host:port of process 0 (env JAX_COORDINATOR_ADDRESS)")
    g.add_argument("--num-processes", type=int, default=_env_int("CIP_NUM_PROCESSES"),
                   help="number of processes (env CIP_NUM_PROCESSES)")
    g.add_argument("--process-id", type=int, default=_env_int("CIP_PROCESS_ID"),
                   help="this process's id (env CIP_PROCESS_ID)")


def init_distributed(args: argparse.Namespace) -> bool:
    from code_in_pretraining.parallel import distributed

    return distributed.initialize(detect=args.distributed, coordinator_address=args.coordinator_address,
                                  num_processes=args.num_processes, process_id=args.process_id)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"${name}={value!r}: expected an integer") from None


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with the C++ lines it prints while loading (oneDNN, CUDA drivers) discarded:
    they come before its logging is set up, so TF_CPP_MIN_LOG_LEVEL does not reach them."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
