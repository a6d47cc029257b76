"""The `synthetic_code` task: verified synthetic Python problems made by `cip synth`.

JSON Lines (prompt + solution + tests as `text`) from $CIP_SYNTH_FILE or
<data_dir>/synthetic/synthetic_code.jsonl.gz, read when the dataset is built (not at
import): one file (`cip synth --out FILE`), or a directory of the shards that
`cip synth --beam --out DIR` writes, read in order. Train and validation come from
the same records, split by the stable hash of each record's id (corpus.split_of), as
for the default corpus. Mixtures that use it are registered with the other mixtures,
not here.
"""

from __future__ import annotations

import functools
import os
import pathlib

import seqio
import tensorflow as tf

from code_in_pretraining.data import corpus, paths, sources, vocabulary

TASK = "synthetic_code"
ENV = "CIP_SYNTH_FILE"


def synth_file() -> str:
    return os.environ.get(ENV) or str(paths.data_dir() / "synthetic" / "synthetic_code.jsonl.gz")


def synth_files() -> list[str]:
    """The file, or the shards of the directory, that hold the problems."""
    path = pathlib.Path(synth_file())
    if not path.is_dir():
        return [str(path)]
    shards = sorted(path.glob("synthetic_code-*-of-*.jsonl.gz"))
    if not shards:
        raise FileNotFoundError(f"{path}: no synthetic_code-*-of-*.jsonl.gz shards (cip synth --beam --out {path})")
    return [str(s) for s in shards]


def _in_split(split: str):
    def keep(example):
        flag = tf.py_function(lambda i: corpus.split_of(i.numpy().decode("utf-8")) == split, [example["id"]], tf.bool)
        return tf.reshape(flag, [])
    return keep


def _dataset(split: str, shuffle_files: bool = False, seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed  # one file: nothing to shuffle at file level
    everything = sources.jsonl_source({"all": synth_files()}).get_dataset("all", shuffle=False)
    return everything.filter(_in_split(split))


if TASK not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(
        TASK,
        source=seqio.FunctionDataSource(_dataset, splits=list(corpus.SPLITS)),
        preprocessors=[
            functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text", "id": "id"}),
            seqio.preprocessors.tokenize,
            seqio.preprocessors.append_eos,
        ],
        output_features={"targets": seqio.Feature(vocabulary.default_vocabulary(), add_eos=True)},
    )
