"""Run in a fresh process (8 simulated CPU devices): the training loss and gradients with each
Pallas attention kernel, run per shard through shard_map (model/sharded_attention.py) and in
interpret mode on the CPU, against the xla reference on the same mesh. Prints one JSON object;
tests/test_sharded_kernels.py reads it."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import functools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from batches import two_document_batch  # noqa: E402  (tests/helpers/, this script's directory)
from flax import nnx  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from code_in_pretraining.model.config import get_preset  # noqa: E402
from code_in_pretraining.model.decoder import Decoder  # noqa: E402
from code_in_pretraining.parallel import mesh as mesh_lib  # noqa: E402
from code_in_pretraining.train.step import batch_loss  # noqa: E402

MESHES = [(8, 1, 1), (2, 4, 1), (2, 2, 2)]
# Interpret mode is slow: the TPU kernel on every mesh, the GPU kernel on the one with every axis.
KERNELS = {(8, 1, 1): ["pallas_tpu"], (2, 4, 1): ["pallas_tpu"], (2, 2, 2): ["pallas_tpu", "pallas_gpu"]}
CFG = get_preset("tiny", vocab_size=128, d_model=32, n_layers=1, n_heads=4, n_kv_heads=2, head_dim=16,
                 mlp_dim=64, dtype="float32")


def make_batch(B=8, L=32):
    return two_document_batch(CFG.vocab_size, B, L, pad=3)


def loss_and_grads(cfg, state, batch, mesh):
    graphdef = nnx.split(Decoder(cfg, rngs=nnx.Rngs(0)))[0]
    shardings = mesh_lib.state_shardings(state, mesh)
    replicated = NamedSharding(mesh, P())
    fn = jax.jit(jax.value_and_grad(functools.partial(batch_loss, graphdef), has_aux=True),
                 in_shardings=(shardings, mesh_lib.batch_sharding(mesh)),
                 out_shardings=((replicated, replicated), shardings))
    args = jax.device_put(state, shardings), mesh_lib.shard_batch(batch, mesh)
    with jax.set_mesh(mesh):
        lowered = fn.lower(*args)
        (loss, _), grads = lowered.compile()(*args)
    hlo = lowered.as_text()
    return float(loss), [np.asarray(g) for g in jax.tree.leaves(grads)], hlo


def main():
    assert jax.device_count() == 8, jax.devices()
    batch = make_batch()
    state = jax.tree.map(np.asarray, nnx.split(Decoder(CFG, rngs=nnx.Rngs(0)))[1])
    out = {"meshes": {}}
    for shape in MESHES:
        mesh = mesh_lib.make_mesh(shape)
        ref_loss, ref_grads, _ = loss_and_grads(CFG.replace(attention_impl="xla"), state, batch, mesh)
        rows = out["meshes"][",".join(map(str, shape))] = {"ref_loss": ref_loss}
        for kernel in KERNELS[shape]:
            loss, grads, hlo = loss_and_grads(CFG.replace(attention_impl=kernel), state, batch, mesh)
            rows[kernel] = {
                "loss_abs_diff": abs(loss - ref_loss),
                "grad_max_abs_diff": max(float(np.abs(g - r).max()) for g, r in zip(grads, ref_grads)),
                "grad_max_abs": max(float(np.abs(r).max()) for r in ref_grads),
                "shard_map": "shard_map" in hlo or "sdy.manual_computation" in hlo,
            }
    try:  # 2 kv heads cannot split over tensor=4
        loss_and_grads(CFG.replace(attention_impl="pallas_tpu"), state, batch, mesh_lib.make_mesh((1, 2, 4)))
        out["heads_error"] = None
    except ValueError as e:
        out["heads_error"] = str(e)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
