"""Exported checkpoint loads in transformers' CohereForCausalLM with the same logits."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch", reason="parity test needs the `test` extra (torch)")
transformers = pytest.importorskip("transformers", reason="parity test needs the `test` extra (transformers)")
pytest.importorskip("safetensors", reason="export needs safetensors (the `test` extra)")

from code_in_pretraining.model.config import get_preset  # noqa: E402
from code_in_pretraining.model.decoder import Decoder  # noqa: E402
from code_in_pretraining.model.export_hf import export_model  # noqa: E402

V = 211


def random_model(cfg, seed=0):
    """A model whose every parameter (norm weights too) is random and O(1)-scaled,
    so logits are large enough that a layout mistake cannot hide under 1e-4."""
    model = Decoder(cfg, rngs=nnx.Rngs(seed))
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
    new = [
        jax.random.normal(k, x.shape, x.dtype) * (0.5 if x.ndim > 1 else 0.2) + (x.ndim == 1)
        for k, x in zip(keys, leaves)
    ]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the default: tied embeddings, multi-head attention
        {"n_kv_heads": 2, "tie_embeddings": False, "head_dim": 24},  # GQA, untied, head_dim != D/H
    ],
    ids=["tied_mha", "untied_gqa"],
)
def test_hf_logits_match(tmp_path, overrides):
    cfg = get_preset(
        "tiny",
        vocab_size=V,
        d_model=64,
        n_layers=2,
        n_heads=4,
        mlp_dim=96,
        dtype="float32",
        logit_scale=0.5,
        rope_theta=10_000.0,
        **overrides,
    )
    model = random_model(cfg)
    export_model(model, cfg, str(tmp_path))
    hf_cfg = json.loads((tmp_path / "config.json").read_text())
    assert hf_cfg["model_type"] == "cohere" and hf_cfg["tie_word_embeddings"] == cfg.tie_embeddings

    hf = transformers.CohereForCausalLM.from_pretrained(str(tmp_path), dtype=torch.float32).eval()
    assert hf.config.num_key_value_heads == cfg.n_kv_heads
    toks = np.random.default_rng(0).integers(0, V, (2, 40))
    positions = np.tile(np.arange(40) + 3, (2, 1))  # an offset exercises position ids
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(toks), position_ids=torch.tensor(positions)).logits.numpy()
    ours = np.asarray(
        nnx.jit(lambda m, t, p: m(t, p))(
            model, jnp.asarray(toks, jnp.int32), jnp.asarray(positions, jnp.int32)
        )
    )
    diff = float(np.abs(ours - ref).max())
    print(f"\n[{overrides or 'default'}] max |logit diff| = {diff:.3e} (logit scale {np.abs(ref).max():.2f})")
    assert np.abs(ref).max() > 1.0  # the comparison is not trivially small
    assert diff <= 1e-4


def test_exported_tokenizer_encodes_and_decodes_as_sentencepiece(default_data, tmp_path):
    """The tokenizer `cip export-hf` writes is the project's SentencePiece model, id for id."""
    import inspect

    from code_in_pretraining.data import vocabulary
    from code_in_pretraining.model.export_hf import export_tokenizer

    path = vocabulary.default_vocab_path()
    export_tokenizer(str(path), str(tmp_path))
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    sp = vocabulary.load(path)
    texts = [inspect.getsource(json), inspect.getsource(inspect)[:20000],  # code: indentation, tabs, digits
             "Question: Which is heavier?\nAnswer: the  iron\t12,345.6", "naïve café — 日本語 🙂 ▁x a\u2581b",
             "   leading and trailing   ", "\n\n\t\t", "", " "]
    for text in texts:
        ids = sp.encode(text)
        assert hf.encode(text, add_special_tokens=False) == ids, text[:80]
        assert hf.decode(ids) == sp.decode(ids), text[:80]
        assert "\u2581" in text or sp.decode(ids) == text  # SentencePiece's piece separator reads back as a space
    assert (hf.eos_token_id, hf.pad_token_id, hf.bos_token_id) == (sp.eos_id(), sp.pad_id(), None)
