"""The paper's configurations compiled for TPU slices without a TPU: the table of benchmarks/RESULTS.md.

Each row is `cip train --compile-only` of the gin files a user would pass (models/470m.gin or
models/2p8b.gin, runtime/tpu_v5e.gin, recipes/balanced_to_text.gin) for one slice; the compiled
program's HLO is kept in --out so that the table can be rendered again (--render) without
compiling. Needs libtpu (`make tpu-aot`); compiles are minutes each on a small CPU machine.

    .venv-tpu-aot/bin/python benchmarks/tpu_fit.py --out /tmp/tpu_fit \\
        --rows 470m:v5e-256,2p8b:v5e-256,470m:v5e-64,2p8b:v5e-64
    .venv-tpu-aot/bin/python benchmarks/tpu_fit.py --out /tmp/tpu_fit --render
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root

import tasks  # noqa: E402,F401  (the recipe's mixtures)
from code_in_pretraining.train import compile_only, fit_report, launch  # noqa: E402

GIN = {"470m": "models/470m.gin", "2p8b": "models/2p8b.gin"}
RUNTIME = ["runtime/tpu_v5e.gin", "recipes/balanced_to_text.gin"]


def compile_row(preset: str, topo: str, out: pathlib.Path, headroom: float) -> dict:
    cfg = launch.load_config([GIN[preset], *RUNTIME], [])
    c = compile_only.compile_step(cfg, topo)
    name = f"{preset}_{topo.replace(':', '_')}"
    (out / f"{name}.hlo.txt").write_text(c.hlo_text)
    fields = {f.name: getattr(c, f.name) for f in dataclasses.fields(c)
              if f.name not in ("cfg", "model_cfg", "slice", "collectives", "hlo_text")}
    record = {"preset": preset, "topology": topo, "fields": fields, "headroom": headroom,
              "rows": fit_report.rows(c, headroom)}
    (out / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))
    print(fit_report.table(c, headroom), flush=True)
    return record


def render(out: pathlib.Path) -> str:
    """The markdown table from the kept records, collectives re-read from the kept HLO."""
    lines = ["| topology | preset | seq x global batch | mesh (data, fsdp, tensor) | microbatches | params / optimizer / "
             "temporaries / total / HBM GiB per chip | fits (15% headroom) | compile s | collectives GiB per chip "
             "per step / FSDP floor | estimated tokens/s per chip (paper) |",
             "|---|---|---|---|---:|---|---|---:|---|---|"]
    for path in sorted(out.glob("*.json")):
        rec = json.loads(path.read_text())
        cfg = launch.load_config([GIN[rec["preset"]], *RUNTIME], [])
        c = compile_only.from_record(cfg, rec["topology"], rec["fields"],
                                     path.with_name(path.stem + ".hlo.txt").read_text())
        r = fit_report.rows(c, rec["headroom"])
        est = r["estimate"]
        paper = r["paper_tokens_per_s_per_chip"]
        lines.append(
            f"| {r['topology']} | {r['preset']} | {r['seq_len']} x {r['global_batch']} | "
            f"{r['mesh']['data']}, {r['mesh']['fsdp']}, {r['mesh']['tensor']} | {r['microbatches']} | "
            f"{r['params_gib']:.3f} / {r['optimizer_gib']:.3f} / {r['temporaries_gib']:.2f} / {r['total_gib']:.2f} / "
            f"{r['hbm_gib']:.2f} | {'yes' if r['fits'] else '**no**'} ({r['total_gib'] / r['hbm_gib']:.0%}) | "
            f"{r['compile_s']:.0f} | {r['collective_gib']:.2f} / {r['fsdp_floor_gib']:.2f} = "
            f"{r['collective_gib'] / r['fsdp_floor_gib']:.2f}x | {est['tokens_per_s_per_chip']:,.0f} "
            f"({est['bound']}-bound; paper {paper:,.0f}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory for each row's JSON and HLO")
    parser.add_argument("--rows", default="470m:v5e-256,2p8b:v5e-256",
                        help="preset:topology pairs, comma-separated")
    parser.add_argument("--headroom", type=float, default=0.15)
    parser.add_argument("--render", action="store_true", help="only render the table from --out")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.render:
        for row in args.rows.split(","):
            preset, topo = row.split(":", 1)
            compile_row(preset, topo, out, args.headroom)
    print(render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
