"""SeqIO evaluation tasks: one per benchmark and source, with their metric functions.

  eval_<name>       offline JSON Lines (`cip data fetch-evals`, or $CIP_EVAL_DIR)
  eval_<name>_tfds  the real TFDS builder (needs the data prepared or network)

Both yield the canonical examples of `eval.benchmarks` (inputs, contexts,
choices, label, answers, meta), so the harness treats them alike. Benchmarks with
no offline copy (QuAC, SuperGLUE-CB, StoryCloze; SciQ unless fetch-evals wrote it)
get only the TFDS task or a missing file; the harness reports them as not
available rather than dropping them.
"""

from __future__ import annotations

import functools

import seqio
import tensorflow as tf

from code_in_pretraining.data import vocabulary
from code_in_pretraining.eval import benchmarks, metrics, offline
from code_in_pretraining.eval.benchmarks import task_name

SIGNATURE = {
    "id": tf.TensorSpec((), tf.string),
    "inputs": tf.TensorSpec((), tf.string),
    "contexts": tf.TensorSpec((None,), tf.string),
    "choices": tf.TensorSpec((None,), tf.string),
    "label": tf.TensorSpec((), tf.int32),
    "answers": tf.TensorSpec((None,), tf.string),
    "meta": tf.TensorSpec((), tf.string),
}
METRICS = {
    "mc": [metrics.accuracy],
    "qa": [metrics.exact_match, metrics.f1],  # the primary one is the benchmark's (benchmarks.py)
    "code": [functools.partial(metrics.pass_at_k, ks=(1,))],
}


def _from_python(records_fn, fmt):
    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        del shuffle_files, seed
        return tf.data.Dataset.from_generator(lambda: (fmt(r) for r in records_fn(split)),
                                              output_signature=SIGNATURE)
    return dataset_fn


def _offline_records(bench):
    def records(split):
        path = offline.eval_dir() / bench.offline_file
        if not path.exists():
            raise FileNotFoundError(f"{path} missing: run `cip data fetch-evals` or set CIP_EVAL_DIR")
        return offline.read_records(path)
    return records


def _tfds_records(bench):
    def records(split):
        import tensorflow_datasets as tfds
        for ex in tfds.as_numpy(tfds.load(bench.tfds_name, split=split, shuffle_files=False)):
            yield _to_python(ex)
    return records


def _to_python(x):
    if isinstance(x, dict):
        return {k: _to_python(v) for k, v in x.items()}
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if hasattr(x, "tolist"):
        return _to_python(x.tolist())
    if isinstance(x, list):
        return [_to_python(v) for v in x]
    return x


def _register(name, source, records_fn, fmt, split, bench):
    if name in seqio.TaskRegistry.names():
        return
    vocab = vocabulary.default_vocabulary()
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(_from_python(records_fn, fmt), splits=[split]),
        preprocessors=[],
        output_features={"inputs": seqio.Feature(vocab, add_eos=False),
                         "targets": seqio.Feature(vocab, add_eos=False)},
        metric_fns=METRICS[bench.kind],
    )


for _bench in benchmarks.BENCHMARKS.values():
    _register(task_name(_bench.name, "tfds"), "tfds", _tfds_records(_bench), _bench.tfds_format,
              _bench.tfds_split, _bench)
    if _bench.offline_file:
        _register(task_name(_bench.name), "offline", _offline_records(_bench), _bench.offline_format,
                  _bench.offline_split, _bench)
