"""Run in a fresh process: the train step's loss and gradients (train/step.py's batch_loss)
on 8 simulated CPU devices vs one device.

XLA_FLAGS must be set before jax is imported, which a pytest process that has
already imported jax cannot do; tests/test_sharding.py runs this file with
`python tests/helpers/sharding_check.py` and reads one JSON object from stdout.
"""

import os
import pathlib
import re
import shutil
import tempfile

# Each compilation also leaves its HLO right after SPMD partitioning, where collectives still
# have their own dtype (XLA:CPU later runs bfloat16 collectives in float32).
DUMP = pathlib.Path(tempfile.mkdtemp(prefix="sharding_check_"))
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    f" --xla_dump_to={DUMP} --xla_dump_hlo_pass_re=spmd-partitioning"
).strip()
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

MESHES = [(8, 1, 1), (2, 4, 1), (2, 2, 2), (1, 2, 4)]
CFG = get_preset(
    "tiny",
    vocab_size=256,
    d_model=64,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    head_dim=16,
    mlp_dim=128,
    dtype="float32",
)


def make_batch(B=8, L=16):
    return two_document_batch(CFG.vocab_size, B, L, pad=2)


def loss_and_grads(graphdef):
    """value_and_grad of the training loss (whole logits, or blockwise where the model's config says so)."""
    return jax.value_and_grad(functools.partial(batch_loss, graphdef, z_loss=1e-4), has_aux=True)


def sharded_loss_and_grads(graphdef, shardings, mesh):
    """`loss_and_grads` jitted with the state's shardings in and out (gradients laid out like the
    parameters), the batch split over the batch axes; call and lower it under `jax.set_mesh(mesh)`,
    as the trainer runs its step, so that the model's activation constraints apply."""
    replicated = NamedSharding(mesh, P())
    return jax.jit(loss_and_grads(graphdef), in_shardings=(shardings, mesh_lib.batch_sharding(mesh)),
                   out_shardings=((replicated, replicated), shardings))


def _table_gather_dtypes(hlo: str, table: str) -> list[str]:
    """The element type of each whole-table all-gather ("%all-gather.3 = bf16[256,64]{1,0} all-gather(")."""
    return re.findall(rf"= (\w+){re.escape(table)}\S* all-gather\(", hlo)


def main():
    assert jax.device_count() == 8, jax.devices()
    batch = make_batch()
    model = Decoder(CFG, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    # The same parameters, with logits 100 vocabulary rows at a time (256 = 100 + 100 + 56).
    bw_graphdef = nnx.split(Decoder(CFG.replace(loss_vocab_block=100), rngs=nnx.Rngs(0)))[0]
    # The same parameters in bfloat16 compute, compiled only: which collectives the step has.
    bf16_graphdef = nnx.split(Decoder(CFG.replace(dtype="bfloat16"), rngs=nnx.Rngs(0)))[0]

    (ref_loss, _), ref_grads = jax.jit(loss_and_grads(graphdef))(state, batch)
    ref_leaves = [np.asarray(x) for x in jax.tree.leaves(ref_grads)]
    out = {
        "ref_loss": float(ref_loss),
        "grad_max_abs": max(float(np.abs(g).max()) for g in ref_leaves),
        "meshes": {},
    }
    host_state = jax.tree.map(np.asarray, state)
    for shape in MESHES:
        mesh = mesh_lib.make_mesh(shape)
        shardings = mesh_lib.state_shardings(state, mesh)
        sharded_state = jax.device_put(host_state, shardings)
        sharded_batch = mesh_lib.shard_batch(batch, mesh)
        with jax.set_mesh(mesh):
            (loss, aux), grads = sharded_loss_and_grads(graphdef, shardings, mesh)(sharded_state, sharded_batch)
            (bw_loss, _), bw_grads = sharded_loss_and_grads(bw_graphdef, shardings, mesh)(sharded_state, sharded_batch)
        leaves = jax.tree.leaves(grads)
        gate = grads["blocks"][0]["mlp"]["gate_DxF"]
        bf16_fn = sharded_loss_and_grads(bf16_graphdef, shardings, mesh)
        dumped = set(DUMP.iterdir())
        with jax.set_mesh(mesh):
            hlo = bf16_fn.lower(sharded_state, sharded_batch).compile().as_text()
        partitioned = next(f for f in set(DUMP.iterdir()) - dumped if "after_spmd-partitioning" in f.name)
        table = f"[{CFG.vocab_size},{CFG.d_model}]"
        out["meshes"][",".join(map(str, shape))] = {
            "loss_abs_diff": abs(float(loss) - float(ref_loss)),
            "grad_max_abs_diff": max(
                float(np.abs(np.asarray(g) - r).max()) for g, r in zip(leaves, ref_leaves)
            ),
            "blockwise_loss_abs_diff": abs(float(bw_loss) - float(ref_loss)),
            "blockwise_grad_max_abs_diff": max(
                float(np.abs(np.asarray(g) - r).max()) for g, r in zip(jax.tree.leaves(bw_grads), ref_leaves)
            ),
            "gate_param_spec": str(sharded_state["blocks"][0]["mlp"]["gate_DxF"][...].sharding.spec),
            "gate_grad_spec": str(gate[...].sharding.spec),
            "gate_shard_shape": list(
                sharded_state["blocks"][0]["mlp"]["gate_DxF"][...].addressable_shards[0].data.shape
            ),
            "k_param_spec": str(sharded_state["blocks"][0]["attn"]["k_DxKxDh"][...].sharding.spec),
            "embedding_spec": str(sharded_state["embedding_VxD"][...].sharding.spec),
            "tokens": float(aux["tokens"]),
            # Whole-table gathers in the bfloat16 step: at most the lookup's and the logits' (whose
            # backward reuses its forward's).
            "table_all_gathers": len(_table_gather_dtypes(hlo, table)),
            # ... each moving bfloat16, i.e. cast on its shard before the gather.
            "table_gather_dtypes": sorted(set(_table_gather_dtypes(partitioned.read_text(), table))),
        }
    # Sharded init (no full copy on one device) gives the same parameters.
    mesh = mesh_lib.make_mesh((2, 2, 2))
    _, init_state, _ = mesh_lib.init_sharded(lambda: Decoder(CFG, rngs=nnx.Rngs(0)), mesh)
    out["init_sharded_max_abs_diff"] = max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max())
        for a, b in zip(jax.tree.leaves(init_state), jax.tree.leaves(state))
    )
    shutil.rmtree(DUMP)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
