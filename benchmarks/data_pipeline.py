"""Loader throughput against SeqIO's own packed pipeline, on the same corpora and length.

(a) ours: materialised ArrayRecord shards -> grain sources -> token mixing -> packing;
(b) SeqIO: the same two tasks as a SeqIO Mixture through DecoderFeatureConverter(pack=True),
    tokenizing on the fly, as a SeqIO pipeline without a cache does;
(c) the same SeqIO pipeline for one epoch, timed after SeqIO has tokenized the whole corpus
    into its in-memory cache: its mixing and packing alone, an upper bound for SeqIO.
Both report real (non-padding) tokens per second of wall time and per CPU-second
(process time over all threads), and the packing fill. Run:

    python benchmarks/data_pipeline.py [--tokens 4e6] [--seq-len 2048] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _clock():
    return time.perf_counter(), time.process_time()


def bench_ours(shards, weights, seq_len, batch, tokens):
    from code_in_pretraining.data.loader import MixingLoader

    loader = MixingLoader(shards, weights, seq_len=seq_len, global_batch=batch, seed=0)
    next(loader)  # open the files
    (w0, c0), real, slots = _clock(), 0, 0
    while slots < tokens:
        rows = next(loader)
        real += int((rows.segment_ids > 0).sum())
        slots += rows.segment_ids.size
    w1, c1 = _clock()
    return {"real_tokens": real, "fill": real / slots, "wall_s": w1 - w0, "cpu_s": c1 - c0}


def bench_seqio(mixture, seq_len, batch, tokens, *, cached=False):
    import seqio

    ds = seqio.get_dataset(mixture, task_feature_lengths={"targets": seq_len}, dataset_split="train",
                           shuffle=True, seed=0, num_epochs=1 if cached else None,
                           feature_converter=seqio.DecoderFeatureConverter(pack=True))
    it = ds.batch(batch).as_numpy_iterator()
    next(it)
    (w0, c0), real, slots = _clock(), 0, 0
    for b in it:
        if slots >= tokens:
            break
        real += int((b["decoder_segment_ids"] > 0).sum())
        slots += b["decoder_segment_ids"].size
    w1, c1 = _clock()
    return {"real_tokens": real, "fill": real / slots, "wall_s": w1 - w0, "cpu_s": c1 - c0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixture", default="demo_balanced")
    parser.add_argument("--tokens", type=float, default=4e6)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="a few batches, to check the script runs")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    tokens = args.seq_len * args.batch * 2 if args.smoke else int(args.tokens)

    import tasks  # noqa: F401  (the SeqIO registrations)
    from code_in_pretraining.data import materialize, mixtures
    from code_in_pretraining.experiments import demo

    demo.prepare_data(progress=False)
    weights = mixtures.mixture_weights(args.mixture)
    shards = {t: materialize.materialize_shards(t, "train", progress=False) for t in weights}
    rows = {"ours (grain, token mixing)": bench_ours(shards, weights, args.seq_len, args.batch, tokens),
            "SeqIO + DecoderFeatureConverter(pack=True)": bench_seqio(args.mixture, args.seq_len, args.batch,
                                                                      tokens)}
    if not args.smoke:  # this one tokenizes the whole corpus before it starts
        rows["SeqIO, from its in-memory cache (one epoch)"] = bench_seqio(args.mixture, args.seq_len, args.batch,
                                                                         tokens, cached=True)
    print(f"\n{args.mixture}, sequence length {args.seq_len}, {tokens:,} token slots each, {os.cpu_count()} cores\n")
    print("| pipeline | real tokens/s | real tokens per CPU-second | fill |")
    print("|---|---:|---:|---:|")
    for name, r in rows.items():
        r["tokens_per_s"] = r["real_tokens"] / r["wall_s"]
        r["tokens_per_cpu_s"] = r["real_tokens"] / max(r["cpu_s"], 1e-9)
        print(f"| {name} | {r['tokens_per_s']:,.0f} | {r['tokens_per_cpu_s']:,.0f} | {r['fill']:.4f} |")
    ours, ref = list(rows.values())[:2]
    ratio = {"wall": ours["tokens_per_s"] / ref["tokens_per_s"],
             "per_cpu_second": ours["tokens_per_cpu_s"] / ref["tokens_per_cpu_s"]}
    print(f"\nours / SeqIO: {ratio['wall']:.1f}x real tokens/s, {ratio['per_cpu_second']:.1f}x per CPU-second")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "ratio": ratio, "seq_len": args.seq_len, "tokens": tokens}, f, indent=2,
                      default=lambda x: x.item() if isinstance(x, np.generic) else str(x))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
