"""Python as on the GPU machine: the project's data and logging packages are not installed there.

That machine has jax, flax (with its own dependencies), optax, orbax-checkpoint, chex, einops and
numpy, and nothing else of ours (shared/FACTS.md). With this folder first on PYTHONPATH, importing
any package below fails as it would there, so the test of `benchmarks/gpu_check.sh` fails here
when a benchmark starts to need one of them, not on the card.
"""

import importlib.abc
import sys

ABSENT = frozenset({
    "apache_beam", "array_record", "clu", "gin", "grain", "pyarrow", "seqio", "sentencepiece",
    "tensorboard", "tensorboardX", "tensorflow", "tensorflow_datasets", "tensorflow_text", "torch",
    "tqdm", "transformers", "zstandard",
})


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed on the GPU machine)", name=name)
        return None


sys.meta_path.insert(0, _Absent())
