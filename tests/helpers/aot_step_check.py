"""Run with an AOT venv's python (make tpu-aot / make gpu-aot): the tiny preset's train step, as
`cip train` builds it, compiled deviceless for a described slice. Prints one JSON object.

    .venv-tpu-aot/bin/python tests/helpers/aot_step_check.py tpu   # v5e:2x2, pallas_tpu through Mosaic
    .venv-aot/bin/python tests/helpers/aot_step_check.py gpu       # eight H100s, data parallel, pallas_gpu
"""

import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_SKIP_CUDA_CONSTRAINTS_CHECK"] = "1"

import tasks  # noqa: E402,F401  (the mixtures a recipe names)

BINDINGS = ["TrainConfig.mixture = 'balanced'", "TrainConfig.steps = 10", "TrainConfig.seq_len = 256",
            "TrainConfig.global_batch = 8"]


def tpu() -> dict:
    from code_in_pretraining.train import compile_only, launch

    # Widths that are multiples of 128 on each chip, as the real presets' are: a TPU pads the two
    # minor dimensions of an array to (8, 128) tiles, which would dominate the tiny preset's bytes.
    widths = "TrainConfig.model_overrides = {'d_model': 512, 'n_heads': 4, 'head_dim': 128, 'mlp_dim': 512}"
    cfg = launch.load_config(["models/tiny.gin", "runtime/tpu_v5e.gin"], BINDINGS + [widths])
    c = compile_only.compile_step(cfg, "v5e:2x2")
    own = c.params_bytes + c.optimizer_bytes + c.batch_bytes
    # The same step over two such slices: the data axis joins them over DCN.
    two = compile_only.compile_step(cfg, "v5e:2x2", num_slices=2)
    return {"mosaic_calls": c.hlo_text.count('custom_call_target="tpu_custom_call"'),
            "shard_map": "shard_map" in c.hlo_text, "argument_bytes": c.argument_bytes, "own_bytes": own,
            "temp_bytes": c.temp_bytes, "attention": c.model_cfg.attention_impl, "devices": c.num_devices,
            "compile_s": c.compile_s,
            "two_slices": {"devices": two.num_devices, "mesh": two.mesh_shape,
                           "all_reduce_bytes": two.collectives["all-reduce"].bytes_per_device,
                           "params_bytes": two.params_bytes,
                           "mosaic_calls": two.hlo_text.count('custom_call_target="tpu_custom_call"')}}


def gpu() -> dict:
    from jax.experimental import topologies

    from benchmarks.tools import gpu_target
    from code_in_pretraining.parallel import mesh as mesh_lib
    from code_in_pretraining.train import compile_only, launch

    cfg = launch.load_config(["models/tiny.gin", "runtime/gpu.gin"],
                             BINDINGS + ["TrainConfig.mesh_shape = (-1, 1, 1)"])
    topo = topologies.get_topology_desc(platform="cuda", target_config=gpu_target.CARDS["h100"].target_config(),
                                        topology="1x1x8")
    mesh = mesh_lib.make_mesh(cfg.mesh_shape, devices=list(topo.devices))
    model_cfg, num_sources, _ = compile_only.model_config(cfg)
    low = compile_only.lower_step(cfg, model_cfg, num_sources, mesh)
    hlo = low.lowered.compile().as_text()
    return {"devices": len(topo.devices), "mesh": dict(mesh.shape), "attention": model_cfg.attention_impl,
            "triton_calls": hlo.count("__gpu$xla.gpu.triton"), "device_kind": topo.devices[0].device_kind}


if __name__ == "__main__":
    gpu_target_env = sys.argv[1] == "gpu"
    if gpu_target_env:
        from benchmarks.tools import gpu_target

        gpu_target.prepare_environment()
    print(json.dumps({"tpu": tpu, "gpu": gpu}[sys.argv[1]]()))
