"""Where the project keeps its local data: one root, overridable per machine."""

from __future__ import annotations

import os
import pathlib


def data_dir() -> pathlib.Path:
    """Root of the project's local data: $CIP_DATA_DIR, else ~/.cache/code_in_pretraining."""
    env = os.environ.get("CIP_DATA_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "code_in_pretraining"


def default_corpus_dir() -> pathlib.Path:
    """The embedded default corpus (`cip data fetch-default`)."""
    return data_dir() / "default"
