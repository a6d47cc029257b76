"""Where the offline evaluation files live, and reading them.

$CIP_EVAL_DIR if set, else `<data_dir>/evals` (what `cip data fetch-evals` writes).
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
from collections.abc import Iterator

from code_in_pretraining.data import paths


def eval_dir() -> pathlib.Path:
    env = os.environ.get("CIP_EVAL_DIR")
    if env:
        return pathlib.Path(env)
    return paths.data_dir() / "evals"


def read_records(path: str | pathlib.Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
