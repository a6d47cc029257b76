"""`cip train`, `cip model-info`, `cip export-hf`: a run, the size of a model, a trained model for transformers."""

from __future__ import annotations

import json
import math
import os

from code_in_pretraining.cli.flags import (
    Parser,
    UsageError,
    add_checkpoint,
    add_distributed,
    add_module_imports,
    import_modules,
    init_distributed,
)


# -- cip train -------------------------------------------------------------------------------------
def train_parser() -> Parser:
    parser = Parser(prog="cip train", description=(
        "Train (or resume) one run from gin files and bindings. Gin files are looked up as given, then in the "
        "package's own: models/{tiny,470m,2p8b}.gin, runtime/{cpu,gpu,tpu_v5e}.gin, recipes/NAME.gin, demo.gin. "
        "A broken configuration (unknown binding, recipe, mixture or preset, a budget that is not whole "
        "batches, a mesh that does not fit, missing data) exits with code 2 before anything is compiled; "
        "a NaN or Inf stops the run with code 1.\n\n"
        "  cip train --gin-file=models/tiny.gin --gin-file=runtime/cpu.gin --gin-file=recipes/code_to_text.gin \\\n"
        "      --gin-bindings='TrainConfig.budget_scale = 1.6384e-06' --workdir=/tmp/c2t"))
    parser.add_argument("--gin-file", action="append", default=[], metavar="FILE",
                        help="a gin file: a path, or one shipped with the package; repeatable")
    parser.add_argument("--gin-bindings", action="append", default=[], metavar="BINDING",
                        help="a gin binding, e.g. 'TrainConfig.seq_len = 2048'; repeatable, applied after the files")
    parser.add_argument("--workdir", help="run directory; resumes from its latest checkpoint (required unless "
                                          "--compile-only)")
    add_module_imports(parser)
    add_distributed(parser)
    g = parser.add_argument_group("compile only (before you book a pod)", (
        "Compile the step this run would take on a TPU slice, without a TPU (needs libtpu: `make tpu-aot`, then "
        ".venv-tpu-aot/bin/cip), and print per device: parameters, optimizer state, batch, temporaries and "
        "total against the chip's HBM, the compile time, the collectives of one step, and a roofline estimate of "
        "the throughput. Exits 0 when the step fits with the headroom, 1 otherwise, naming what does not fit "
        "and what would reduce it.\n\n"
        "  .venv-tpu-aot/bin/cip train --compile-only --topology v5e-256 --gin-file=models/470m.gin \\\n"
        "      --gin-file=runtime/tpu_v5e.gin --gin-file=recipes/balanced_to_text.gin"))
    g.add_argument("--compile-only", action="store_true", help="compile for --topology and report; train nothing")
    g.add_argument("--topology", help="a slice: v5e-256, v5p-128, v4-64 (cloud names), or v5e:16x16")
    g.add_argument("--num-slices", type=int, default=1, help="slices joined over DCN (data parallel across them)")
    g.add_argument("--headroom", type=float, default=0.15,
                   help="fraction of HBM to keep free: real data grows memory past the compiled figure")
    g.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return parser


def train(argv: list[str]) -> int:
    args = train_parser().parse_args(argv)
    if not args.gin_file:
        raise UsageError("give at least one --gin-file (e.g. demo.gin, or models/tiny.gin with a recipe)")
    if args.compile_only:
        return _compile_only(args)
    if not args.workdir:
        raise UsageError("--workdir is required (unless --compile-only)")
    import_modules(args)
    from code_in_pretraining.train import launch

    try:
        init_distributed(args)
    except ValueError as e:
        raise launch.ConfigError(str(e)) from None
    out = launch.run(args.gin_file, args.gin_bindings, args.workdir)
    print(f"done: step {out['final'].get('step')}, loss {out['final'].get('loss', float('nan')):.4f}, "
          f"workdir {out['workdir']}")
    return 0


def _compile_only(args) -> int:
    if not args.topology:
        raise UsageError("--compile-only needs --topology (e.g. v5e-256, v5p-128, v5e:16x16)")
    if not 0 <= args.headroom < 1:
        raise UsageError(f"--headroom {args.headroom}: a fraction in [0, 1)")
    import_modules(args)
    return _compile_and_report(args.gin_file, args.gin_bindings, args.topology, args.num_slices, args.headroom,
                               args.json)


def _compile_and_report(files: list[str], bindings: list[str], topology: str, num_slices: int = 1,
                        headroom: float = 0.15, json_path: str | None = None) -> int:
    """Compiles the run's step for the slice and prints its figures; 0 when it fits with the headroom."""
    from code_in_pretraining.train import compile_only, fit_report, launch

    cfg = launch.load_config(files, bindings)
    try:
        compiled = compile_only.compile_step(cfg, topology, num_slices)
    except (KeyError, ValueError) as e:
        raise launch.ConfigError(str(e.args[0]) if e.args else str(e)) from None
    except RuntimeError as e:  # no libtpu, or a topology it cannot describe
        raise UsageError(str(e)) from None
    print(fit_report.table(compiled, headroom))
    if json_path:
        import pathlib

        pathlib.Path(json_path).write_text(json.dumps(fit_report.rows(compiled, headroom), indent=2))
    fit = fit_report.check_fit(compiled, headroom)
    if fit.fits:
        print(f"fits: {compiled.total_bytes / 2**30:.2f} GiB of a {fit.budget_bytes / 2**30:.2f} GiB budget")
        return 0
    print("DOES NOT FIT: " + "\n".join(fit.problems))
    return 1


# -- cip model-info --------------------------------------------------------------------------------
def model_info_parser() -> Parser:
    parser = Parser(prog="cip model-info", description="Parameters, FLOPs per token and memory per device of a "
                                                       "model preset, from shapes alone (nothing is allocated).")
    parser.add_argument("--preset", required=True, help="a model preset: tiny, 470m or 2p8b")
    parser.add_argument("--vocab-size", type=int, default=None, help="vocabulary size (default: the preset's)")
    parser.add_argument("--seq-len", type=int, default=8192, help="sequence length")
    parser.add_argument("--mesh", default=None, help="mesh sizes data,fsdp,tensor; -1: the rest of --devices "
                                                      "(default 1,1,1; with --compile, runtime/tpu_v5e.gin's 1,-1,1: "
                                                      "FSDP over every chip)")
    parser.add_argument("--devices", type=int, default=None,
                        help="devices the mesh spans (default: --topology's, else the mesh's product)")
    parser.add_argument("--topology", default=None,
                        help="a TPU slice (v5e-256, v5p-128, v5e:16x16): its device count, and its HBM to flag "
                             "a configuration that does not fit")
    parser.add_argument("--loss-vocab-block", type=int, default=None,
                        help="the blockwise loss's vocabulary block (default: the preset's; 0: whole logits)")
    parser.add_argument("--batch", type=int, default=512, help="global batch in sequences")
    parser.add_argument("--microbatches", type=int, default=1,
                        help="the batch split into this many microbatches (TrainConfig.microbatches; "
                             "runtime/tpu_v5e.gin holds 2 sequences per chip at a time)")
    parser.add_argument("--remat", default=None, choices=("none", "full", "save_dots"),
                        help="activation rematerialisation (default: the preset's)")
    parser.add_argument("--compile", action="store_true",
                        help="compile this configuration's train step for --topology (runtime/tpu_v5e.gin with "
                             "the flags above; needs libtpu: `make tpu-aot`) and print the compiled figures, as "
                             "`cip train --compile-only` does, instead of the estimate")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def _model_info_compiled(args) -> int:
    """The flags as a TrainConfig over the TPU runtime, compiled by `cip train --compile-only`'s code."""
    if not args.topology:
        raise UsageError("--compile needs --topology (e.g. v5e-256)")
    bindings = [f"TrainConfig.model_preset = '{args.preset}'", f"TrainConfig.seq_len = {args.seq_len}",
                f"TrainConfig.global_batch = {args.batch}",
                f"TrainConfig.microbatches = {args.microbatches}", "TrainConfig.max_device_sequences = 0",
                "TrainConfig.mixture = 'balanced'", "TrainConfig.steps = 1"]
    if args.mesh is not None:
        bindings.append(f"TrainConfig.mesh_shape = ({args.mesh},)")
    if args.vocab_size is not None:
        bindings.append(f"TrainConfig.model_overrides = {{'vocab_size': {args.vocab_size}}}")
    if args.remat is not None:
        bindings.append(f"TrainConfig.remat = '{args.remat}'")
    if args.loss_vocab_block is not None:
        bindings.append(f"TrainConfig.loss_vocab_block = {args.loss_vocab_block}")
    import_modules(args)
    return _compile_and_report(["runtime/tpu_v5e.gin"], bindings, args.topology)


def model_info(argv: list[str]) -> int:
    args = model_info_parser().parse_args(argv)
    if args.compile:
        return _model_info_compiled(args)
    from code_in_pretraining.model.config import get_preset
    from code_in_pretraining.model.info import model_info as info_of
    from code_in_pretraining.parallel.mesh import parse_mesh

    from code_in_pretraining.parallel.mesh import resolve_shape
    from code_in_pretraining.parallel.topology import parse as parse_topology

    overrides = {} if args.vocab_size is None else {"vocab_size": args.vocab_size}
    if args.loss_vocab_block is not None:
        overrides["loss_vocab_block"] = args.loss_vocab_block
    cfg = get_preset(args.preset, **overrides)
    slice_ = parse_topology(args.topology) if args.topology else None
    mesh_shape = parse_mesh(args.mesh or "1,1,1")
    devices = args.devices or (slice_.num_devices if slice_ else None)
    if devices is None:
        if -1 in mesh_shape:
            raise UsageError(f"--mesh {args.mesh}: -1 needs --devices N or --topology to say how many devices")
        devices = math.prod(mesh_shape)
    mesh_shape = resolve_shape(mesh_shape, devices)
    info = info_of(cfg, seq_len=args.seq_len, mesh_shape=mesh_shape, batch=args.batch, remat=args.remat,
                   microbatches=args.microbatches)
    info["preset"] = args.preset
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    rows = [
        ("preset", args.preset),
        ("params (tied embedding once)", f"{info['params']:,}"),
        ("  embedding", f"{info['params_embedding']:,}"),
        ("  non-embedding", f"{info['params_non_embedding']:,}"),
        (f"FLOPs/token @ {args.seq_len}", f"{_si(info['flops_per_token'])} (dense {_si(info['flops_per_token_dense'])}, "
                                          f"attention {_si(info['flops_per_token_attention'])})"),
        ("mesh data,fsdp,tensor", ",".join(map(str, mesh_shape))),
        ("global batch x seq", f"{args.batch} x {args.seq_len}" + (
            f" in {args.microbatches} microbatches" if args.microbatches > 1 else "")),
        ("remat", info["remat"]),
    ]
    rows += [(f"mem/device {k}", f"{v / 2**30:.2f} GiB") for k, v in info["memory_per_device_bytes"].items()]
    total = info["memory_per_device_bytes"]["total"]
    if slice_:
        hbm = slice_.chip.hbm_bytes
        verdict = "fits" if total <= hbm else "OVER HBM"
        rows.append((f"{slice_.name} HBM/device", f"{hbm / 2**30:.2f} GiB: {verdict} ({total / hbm:.0%})"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print("(an estimate from shapes, within about -5% to +35% of the compiled step's total on the TPU slices of "
          "benchmarks/RESULTS.md; the compiled figures: add --compile, or `cip train --compile-only --topology ...`)")
    return 0


def _si(n: float) -> str:
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3f}{unit}"
    return f"{n:.0f}"


# -- cip export-hf ---------------------------------------------------------------------------------
def export_hf_parser() -> Parser:
    parser = Parser(prog="cip export-hf", description=(
        "Write a trained model as a transformers CohereForCausalLM checkpoint (config.json, model.safetensors) "
        "with its tokenizer (tokenizer.json, converted from the SentencePiece vocabulary), loadable with "
        "AutoModelForCausalLM / AutoTokenizer.from_pretrained(OUT) and by lm-eval's `hf` model."))
    add_checkpoint(parser)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--vocab", default=None,
                        help="the SentencePiece model the run was trained with, or 'none' for no tokenizer "
                             "(default: $CIP_VOCAB, else the default corpus's vocabulary)")
    parser.add_argument("--pad-token-id", type=int, default=None, help="padding id (default: the vocabulary's, else 0)")
    parser.add_argument("--bos-token-id", type=int, default=None,
                        help="beginning-of-sequence id (default: the vocabulary's, if it has one)")
    parser.add_argument("--eos-token-id", type=int, default=None,
                        help="end-of-sequence id (default: the vocabulary's, if it has one)")
    return parser


def export_hf(argv: list[str]) -> int:
    args = export_hf_parser().parse_args(argv)
    from code_in_pretraining.data import vocabulary
    from code_in_pretraining.model import export_hf as export
    from code_in_pretraining.model.restore import restore_model

    cfg, model = restore_model(args.checkpoint)
    vocab = None if args.vocab == "none" else str(args.vocab or vocabulary.default_vocab_path())
    if vocab and not os.path.isfile(vocab):
        raise UsageError(f"vocabulary not found: {vocab} (--vocab PATH names one; --vocab none writes no tokenizer)")
    token_ids = export.vocab_token_ids(vocab) if vocab else {"pad_token_id": 0}
    token_ids.update({k: v for k, v in (("pad_token_id", args.pad_token_id), ("bos_token_id", args.bos_token_id),
                                        ("eos_token_id", args.eos_token_id)) if v is not None})
    export.export_model(model, cfg, args.out, **token_ids)
    written = ["config.json", "model.safetensors"]
    if vocab:
        try:
            export.export_tokenizer(vocab, args.out)
        except ModuleNotFoundError as e:
            raise UsageError(str(e)) from None
        written.append(f"the tokenizer of {vocab}")
    print(f"wrote {args.out}: {', '.join(written)}")
    return 0
