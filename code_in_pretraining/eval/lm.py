"""A model as the benchmarks see it: text in, log-likelihoods and generations out."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from flax import nnx

from code_in_pretraining.eval import generate, scoring
from code_in_pretraining.model.config import ModelConfig


@dataclasses.dataclass
class LanguageModel:
    cfg: ModelConfig
    graphdef: Any
    params: Any  # pure dict, possibly sharded
    tokenizer: Any
    batch_size: int = 8
    max_len: int | None = None  # None: cfg.max_seq_len

    @classmethod
    def from_model(cls, model, tokenizer, **kw) -> "LanguageModel":
        graphdef, state = nnx.split(model)
        return cls(model.cfg, graphdef, nnx.to_pure_dict(state), tokenizer, **kw)

    @classmethod
    def from_checkpoint(cls, path, tokenizer=None, *, step: int | None = None, **kw) -> "LanguageModel":
        from code_in_pretraining.eval.tokenizer import default_tokenizer
        from code_in_pretraining.model.restore import restore_model
        _, model = restore_model(path, step)
        return cls.from_model(model, tokenizer or default_tokenizer(), **kw)

    @property
    def length(self) -> int:
        return self.max_len or self.cfg.max_seq_len

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        """(sum log p(continuation | context), greedy) per (context, continuation) pair."""
        enc = self.tokenizer.encode
        ids = [(enc(c), enc(x)) for c, x in requests]
        return scoring.loglikelihood(self.graphdef, self.params, ids, max_len=self.length,
                                     batch_size=self.batch_size)

    def generate(self, prompts: list[str], sampling: generate.SamplingConfig, *, seed: int = 0) -> list[str]:
        """Completions, cut at the first stop string; batches of `batch_size` (last one padded)."""
        key = jax.random.PRNGKey(seed)
        stop = tuple(sampling.stop)
        decode = self.tokenizer.decode

        def finished(ids):
            return bool(stop) and any(s in decode(ids) for s in stop)

        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = [self.tokenizer.encode(p) for p in prompts[start:start + self.batch_size]]
            n = len(chunk)
            chunk += [chunk[0]] * (self.batch_size - n)
            key, k = jax.random.split(key)
            ids = generate.generate_ids(self.graphdef, self.params, self.cfg, chunk, sampling,
                                        eos_id=self.tokenizer.eos_id, max_len=self.length, key=k,
                                        finished=finished)
            out += [generate.truncate_at_stop(decode(row), stop) for row in ids[:n]]
        return out
