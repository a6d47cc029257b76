"""A run from gin files: parse them, check everything, train.

Gin files are looked up as given (relative to the working directory), then in the
configuration shipped inside the package (`code_in_pretraining/gin/`: models,
runtimes, recipes), so `--gin_file=models/470m.gin` works from any directory and
from an installed wheel. Everything that can be wrong with a configuration raises
ConfigError before anything is compiled.
"""

from __future__ import annotations

import logging
import os
import pathlib

import gin

from code_in_pretraining.train.config import TrainConfig

GIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "gin"
gin.add_config_file_search_path(str(GIN_DIR))


def _not_a_missed_prefix(record: logging.LogRecord) -> bool:
    """gin's package-resource reader logs an error for every search-path prefix a file is not
    under ("Path not found"), before the package's own directory finds it: not an error here."""
    return not (record.pathname.endswith(os.path.join("gin", "resource_reader.py"))
                and record.getMessage().startswith("Path not found"))


logging.getLogger().addFilter(_not_a_missed_prefix)


class ConfigError(ValueError):
    """A configuration problem found before training starts; the message names the key or file."""


def load_config(files: list[str], bindings: list[str]) -> TrainConfig:
    """The TrainConfig that the gin files and bindings describe. They replace gin's (global)
    configuration, which `gin.config_str()` then reports."""
    gin.clear_config()
    files = [str(pathlib.Path(f).absolute()) if pathlib.Path(f).exists() else f for f in files]
    try:
        gin.parse_config_files_and_bindings(files, bindings, finalize_config=False)
        return TrainConfig()
    except (ValueError, KeyError, OSError, SyntaxError, TypeError) as e:
        raise ConfigError(f"gin: {e}") from None


def run(files: list[str], bindings: list[str], workdir: str, **train_kwargs) -> dict:
    """Trains (or resumes) the run the gin files describe in `workdir`; see trainer.train."""
    from code_in_pretraining.train import trainer

    cfg = load_config(files, bindings)
    config_str = gin.config_str()
    try:
        prepared = trainer.prepare(cfg)  # every name, path and shape checked before compilation
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise ConfigError(str(e.args[0]) if e.args else str(e)) from None
    return trainer.train(cfg, workdir, gin_config=config_str, prepared=prepared, **train_kwargs)
