"""Writes a Hugging Face `CohereForCausalLM` checkpoint from a Decoder.

Output: config.json + model.safetensors, loadable with
`transformers.CohereForCausalLM.from_pretrained(out_dir)`. transformers is not
needed to write them; `tests/test_export_hf.py` checks logits against it.

With a vocabulary, the tokenizer too (tokenizer.json, tokenizer_config.json): our
SentencePiece model converted by transformers' own SentencePiece converter into a
`tokenizers` BPE that encodes and decodes text exactly as SentencePiece does (the
tests check ids and text; byte pieces that form no valid UTF-8, which only a model's
output can hold, read back with other replacement characters), so
`AutoTokenizer.from_pretrained(out_dir)` and harnesses that load a model directory
(lm-eval's `hf` backend) work on the export as it is.

`cip export-hf --checkpoint DIR --out DIR [--vocab PATH]`
"""

from __future__ import annotations

import json
import os

import numpy as np
from flax import nnx

from code_in_pretraining.model.config import ModelConfig


def hf_config(
    cfg: ModelConfig,
    *,
    pad_token_id: int | None = 0,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
    torch_dtype: str = "float32",
) -> dict:
    """config.json keys of transformers' CohereConfig (checked against v5.24)."""
    rope = {"rope_type": "default", "rope_theta": float(cfg.rope_theta)}
    out = {
        "architectures": ["CohereForCausalLM"],
        "model_type": "cohere",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.mlp_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        # CohereAttention reads getattr(config, "head_dim", hidden // heads).
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "initializer_range": cfg.init_std,
        "layer_norm_eps": cfg.norm_eps,
        "logit_scale": cfg.logit_scale,
        "tie_word_embeddings": cfg.tie_embeddings,
        "rope_parameters": rope,  # transformers >= 5
        "rope_theta": float(cfg.rope_theta),  # transformers 4.x
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_qk_norm": False,
        "use_cache": True,
        "pad_token_id": pad_token_id,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "dtype": torch_dtype,
        "torch_dtype": torch_dtype,
    }
    return out


def hf_tensors(model: nnx.Module, cfg: ModelConfig, dtype=np.float32) -> dict[str, np.ndarray]:
    """Our parameters renamed and transposed to transformers' [out, in] Linear layout.

    Heads are flattened head-major (index h * head_dim + d), as transformers'
    `.view(..., -1, head_dim)` expects; RoPE pairs are already interleaved the
    Cohere way, so no permutation of head_dim is needed.
    """
    D = cfg.d_model

    def arr(p):
        return np.asarray(p[...], dtype=dtype)

    t = {
        "model.embed_tokens.weight": arr(model.embedding_VxD),
        "model.norm.weight": arr(model.final_norm.weight),
    }
    for i, blk in enumerate(model.blocks):
        pre = f"model.layers.{i}."
        a, m = blk.attn, blk.mlp
        t[pre + "input_layernorm.weight"] = arr(blk.norm.weight)
        t[pre + "self_attn.q_proj.weight"] = arr(a.q_DxHxDh).reshape(D, -1).T
        t[pre + "self_attn.k_proj.weight"] = arr(a.k_DxKxDh).reshape(D, -1).T
        t[pre + "self_attn.v_proj.weight"] = arr(a.v_DxKxDh).reshape(D, -1).T
        t[pre + "self_attn.o_proj.weight"] = arr(a.o_HxDhxD).reshape(-1, D).T
        t[pre + "mlp.gate_proj.weight"] = arr(m.gate_DxF).T
        t[pre + "mlp.up_proj.weight"] = arr(m.up_DxF).T
        t[pre + "mlp.down_proj.weight"] = arr(m.down_FxD).T
    if not cfg.tie_embeddings:
        t["lm_head.weight"] = arr(model.unembed_DxV).T
    return {k: np.ascontiguousarray(v) for k, v in t.items()}


def export_model(model: nnx.Module, cfg: ModelConfig, out_dir: str, **token_ids) -> str:
    """Writes config.json and model.safetensors (float32) into out_dir; returns it.

    token_ids: pad_token_id / bos_token_id / eos_token_id of the vocabulary.
    """
    from safetensors.numpy import save_file  # lazy: only export needs it

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(cfg, **token_ids), f, indent=2, sort_keys=True)
    save_file(hf_tensors(model, cfg), os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    return out_dir


def vocab_token_ids(vocab_path: str) -> dict[str, int | None]:
    """pad / bos / eos ids of a SentencePiece model (None where it has none)."""
    from code_in_pretraining.data import vocabulary

    sp = vocabulary.load(vocab_path)
    return {name: (i if i >= 0 else None) for name, i in
            (("pad_token_id", sp.pad_id()), ("bos_token_id", sp.bos_id()), ("eos_token_id", sp.eos_id()))}


def export_tokenizer(vocab_path: str, out_dir: str) -> str:
    """Writes the transformers tokenizer of a SentencePiece BPE model into out_dir; returns it."""
    try:
        from sentencepiece import sentencepiece_model_pb2
        from transformers import PreTrainedTokenizerFast
        from transformers.convert_slow_tokenizer import SpmConverter
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"writing the tokenizer needs transformers ({e.name} is missing): "
                                  "pip install -e '.[test]', or pass --vocab none") from None
    from code_in_pretraining.data import vocabulary

    sp = vocabulary.load(vocab_path)  # a clear error when the file is missing
    proto = sentencepiece_model_pb2.ModelProto.FromString(sp.serialized_model_proto())
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab)
    if backend is None:
        raise ValueError(f"{vocab_path}: not a SentencePiece BPE or unigram model")

    def piece(i: int) -> str | None:
        return sp.id_to_piece(i) if i >= 0 else None

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=piece(sp.pad_id()),
                                        eos_token=piece(sp.eos_id()), bos_token=piece(sp.bos_id()),
                                        unk_token=piece(sp.unk_id()), clean_up_tokenization_spaces=False)
    tokenizer.save_pretrained(out_dir)
    return out_dir
