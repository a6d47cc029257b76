"""`cip train --gin_file=... --gin_bindings=... --workdir=DIR`.

Gin files are looked up as given, then under the repository's gin/ directory.
A broken configuration (unknown binding, recipe, mixture or preset, a budget
that is not whole batches, a mesh that does not fit, missing data) is reported
before anything is compiled, with exit code 2; a NaN loss stops with exit code 1.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import gin
from code_in_pretraining.parallel import distributed

GIN_DIR = pathlib.Path(__file__).resolve().parents[2] / "gin"


class ConfigError(Exception):
    """A configuration problem found before training starts."""


def parse_gin(files: list[str], bindings: list[str]) -> None:
    """Parses gin files and bindings, raising ConfigError with gin's message on any problem."""
    from code_in_pretraining.train import trainer  # noqa: F401  (registers TrainConfig)

    gin.clear_config()
    prefixes = gin.config._LOCATION_PREFIXES
    if str(GIN_DIR) not in prefixes:
        prefixes.insert(0, str(GIN_DIR))  # the project's files first, so includes resolve quietly
    files = [str(pathlib.Path(f).absolute()) if pathlib.Path(f).exists() else f for f in files]
    try:
        gin.parse_config_files_and_bindings(files, bindings, finalize_config=False)
    except (ValueError, KeyError, OSError, SyntaxError) as e:
        raise ConfigError(f"gin: {e}") from None


def run(files: list[str], bindings: list[str], workdir: str, **train_kwargs) -> dict:
    from code_in_pretraining.train import trainer

    parse_gin(files, bindings)
    cfg = trainer.TrainConfig()
    try:
        prepared = trainer.prepare(cfg)  # every name, path and shape checked before compilation
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise ConfigError(str(e.args[0]) if e.args else str(e)) from None
    return trainer.train(cfg, workdir, gin_config=gin.config_str(), prepared=prepared, **train_kwargs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gin_file", action="append", default=[], help="gin file (repeatable)")
    parser.add_argument("--gin_bindings", action="append", default=[], help="gin binding (repeatable)")
    parser.add_argument("--workdir", required=True, help="run directory; resumes if it has checkpoints")
    distributed.add_flags(parser)
    args = parser.parse_args(argv)
    try:
        try:
            distributed.initialize(args)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        out = run(args.gin_file, args.gin_bindings, args.workdir)
    except ConfigError as e:
        print(f"cip train: configuration error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"cip train: {e}", file=sys.stderr)
        return 1
    print(f"done: step {out['final'].get('step')}, loss {out['final'].get('loss', float('nan')):.4f}, "
          f"workdir {out['workdir']}")
    return 0
