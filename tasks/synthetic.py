"""The `synthetic_code` task: verified synthetic Python problems made by `cip synth`.

One JSONL file (prompt + solution + tests as `text`), read from $CIP_SYNTH_FILE or
<data_dir>/synthetic/synthetic_code.jsonl.gz when the dataset is built (not at
import). Train and validation come from the same file, split by the stable hash of
each record's id (corpus.split_of), as for the default corpus. Mixtures that use
it are registered with the other mixtures, not here.
"""

from __future__ import annotations

import functools
import os

import seqio
import tensorflow as tf

from code_in_pretraining.data import corpus, paths, sources, vocabulary

TASK = "synthetic_code"
ENV = "CIP_SYNTH_FILE"


def synth_file() -> str:
    return os.environ.get(ENV) or str(paths.data_dir() / "synthetic" / "synthetic_code.jsonl.gz")


def _in_split(split: str):
    def keep(example):
        flag = tf.py_function(lambda i: corpus.split_of(i.numpy().decode("utf-8")) == split, [example["id"]], tf.bool)
        return tf.reshape(flag, [])
    return keep


def _dataset(split: str, shuffle_files: bool = False, seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed  # one file: nothing to shuffle at file level
    everything = sources.jsonl_source({"all": [synth_file()]}).get_dataset("all", shuffle=False)
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
