"""Data hygiene: near-duplicate removal and decontamination, on real documents with planted cases.

One task is built from documents of the embedded corpus (standard-library files, KJV
chapters) and planted copies: near duplicates (identifiers renamed, functions reordered,
comments changed, lines added) at a Jaccard similarity of 0.8-0.95, far copies below 0.5,
exact copies, and evaluation examples pasted into documents. `cip dedup` and
`cip decontaminate --remove` run once over it (module fixtures); the tests read what they wrote.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import re

import numpy as np
import pytest
import seqio

from code_in_pretraining.cli import main
from code_in_pretraining.data import beam_dedup, drops, files, vocabulary
from code_in_pretraining.data import near_dedup as nd
from code_in_pretraining.data.ngrams import NgramIndex
from code_in_pretraining.data.sources import Part, ShardedSource
from code_in_pretraining.data.words import words

TASK = "test_hygiene_planted"
POSITIVES, NEGATIVES, EXACT = 80, 60, 5


# -- pure functions ---------------------------------------------------------------------------------
def test_words_ignore_case_punctuation_and_layout():
    a = words("def Foo(x):\n    return x+1  # done")
    b = words("def foo( x ) :   return x + 1 # DONE")
    assert np.array_equal(a.values, b.values) and len(a) == 7
    assert a.text(0, 3) == "def foo x"
    assert words("ab 12 x a1").informative().tolist() == [True, False, False, True]


def test_dedup_settings_and_bands():
    cfg = nd.DedupConfig()
    assert cfg.bands * cfg.rows <= cfg.num_perm and (cfg.bands, cfg.rows) == (20, 6)
    assert nd.DedupConfig(threshold=0.9).rows > cfg.rows  # a stricter threshold: longer bands
    assert nd.DedupConfig.from_spec(True) == cfg and nd.DedupConfig.from_spec(None) is None
    with pytest.raises(KeyError, match="unknown settings \\['shingles'\\]"):
        nd.DedupConfig.from_spec({"shingles": 3})
    with pytest.raises(ValueError, match="threshold"):
        nd.DedupConfig(threshold=1.5)


def test_components_keep_the_lowest_key_and_merge():
    a, b = nd.Components(), nd.Components()
    a.add([1, 5], [2, 6], [0.8, 0.9], exact=False)
    b.add([2], [6], [1.0], exact=True)
    a.merge(b)
    assert a.clusters() == [(1, [2, 5, 6])] and a.exact == {6}


def test_ngram_index_finds_long_and_short_texts_and_ignores_number_runs():
    long = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat"
    short = "which river flows through the city of vienna danube"  # 9 words: checked whole
    numbers = "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14"
    index, grams = NgramIndex.build([(0, long), (1, short), (2, numbers)], n=13, min_words=8)
    assert set(grams) == {0, 1}  # the run of numbers proves nothing and is not indexed
    docs = [f"Intro. {long.upper()}!", f"Q: {short}?", "which river flows through the city of", numbers, "nothing"]
    found = index.scan(docs)
    assert found[0].owners == (0,) and found[0].overlap_words == 17 and found[1].owners == (1,)
    assert found[2] is None and found[3] is None and found[4] is None
    assert found[1].snippet == short


# -- planted near duplicates ----------------------------------------------------------------------------
def _blocks(src: str) -> list[str]:
    return re.split(r"\n(?=(?:def|class) )", src)


def _edit(src: str, rng: random.Random) -> str:
    """One edit of a Python file: rename an identifier, swap two top-level blocks, reword a comment,
    or add a few lines."""
    op = rng.choice(("rename", "reorder", "comment", "add"))
    if op == "rename":
        names = sorted(set(re.findall(r"\b[a-z_][a-z0-9_]{4,}\b", src)))
        if names:
            old = rng.choice(names)
            return re.sub(rf"\b{old}\b", f"{old}_v{rng.randrange(100)}", src)
    if op == "reorder":
        blocks = _blocks(src)
        if len(blocks) > 2:
            i, j = rng.sample(range(1, len(blocks)), 2)
            blocks[i], blocks[j] = blocks[j], blocks[i]
            return "\n".join(blocks)
    if op == "comment":
        comments = [m.start() for m in re.finditer(r"#[^\n]*", src)]
        if comments:
            at = rng.choice(comments)
            end = src.find("\n", at)
            return src[:at] + f"# note {rng.randrange(10**6)} about this step" + src[end if end >= 0 else len(src):]
    lines = src.split("\n")
    at = rng.randrange(len(lines))
    extra = [f"extra_value_{rng.randrange(10**6)} = compute_thing({k}, limit={rng.randrange(99)})" for k in range(3)]
    return "\n".join(lines[:at] + extra + lines[at:])


def _copy_at(src: str, lo: float, hi: float, rng: random.Random) -> tuple[str, float] | None:
    """An edited copy whose Jaccard similarity with `src` lies in [lo, hi), or None."""
    copy = src
    for _ in range(200):
        copy = _edit(copy, rng)
        j = nd.jaccard(src, copy)
        if lo <= j < hi:
            return copy, j
        if j < lo:
            return None
    return None


def _far_copy(src: str, rng: random.Random) -> tuple[str, float]:
    """A copy that keeps a part of the file (about 40% of its lines, in place) and edits it: similarity
    below 0.5, yet far from unrelated."""
    lines = src.split("\n")
    start = rng.randrange(max(1, len(lines) * 6 // 10))
    copy = "\n".join(lines[start:start + len(lines) * 4 // 10])
    while nd.jaccard(src, copy) >= 0.5:
        copy = _edit(copy, rng)
    return copy, nd.jaccard(src, copy)


def _read(path):
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def _planted(corpus):
    rng = random.Random(0)
    code = [d for d in _read(corpus / "code" / "train.jsonl.gz")
            if not re.search(r"encodings/|__init__|__main__|/test", d["id"]) and 400 <= len(d["text"].split()) <= 3000]
    code = code[::max(1, len(code) // (POSITIVES + NEGATIVES))]  # spread over the library
    kjv = [d for d in _read(corpus / "text" / "train.jsonl.gz") if d["id"].startswith("kjv/")][:40]
    originals = code[:POSITIVES + NEGATIVES]
    assert len(originals) == POSITIVES + NEGATIVES
    copies, pairs = [], {"near": [], "far": [], "exact": []}
    for d in originals[:POSITIVES]:
        for attempt in range(5):
            made = _copy_at(d["text"], 0.8, 0.95, random.Random(rng.random()))
            if made:
                copies.append({"id": f"near/{d['id']}", "text": made[0]})
                pairs["near"].append((d["id"], f"near/{d['id']}", made[1]))
                break
    for d in originals[POSITIVES:]:
        text, j = _far_copy(d["text"], random.Random(rng.random()))
        copies.append({"id": f"far/{d['id']}", "text": text})
        pairs["far"].append((d["id"], f"far/{d['id']}", j))
    for d in originals[:EXACT]:
        copies.append({"id": f"exact/{d['id']}", "text": d["text"]})
        pairs["exact"].append((d["id"], f"exact/{d['id']}", 1.0))
    return originals, kjv, copies, pairs


def _register(name, paths, **kw):
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name, source=ShardedSource([Part("text", {"train": tuple(paths)}, format="jsonl")], **kw),
        preprocessors=[functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text", "id": "id"}),
                       seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        output_features={"targets": seqio.Feature(vocabulary.default_vocabulary(), add_eos=True)})


def _write(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return str(path)


@pytest.fixture(scope="module")
def planted(default_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("hygiene")
    originals, kjv, copies, pairs = _planted(default_data)
    shards = [root / "0-originals.jsonl", root / "1-kjv.jsonl", root / "2-copies.jsonl"]
    for path, docs in zip(shards, (originals, kjv, copies)):
        _write(path, docs)
    _register(TASK, [str(p) for p in shards])
    out = root / "out"
    assert main(["dedup", "--task", TASK, "--out", str(out)]) == 0
    texts = {d["id"]: d["text"] for d in originals + kjv + copies}
    removed = list(files.read_lines(drops.list_path(out, TASK, "train", "dedup")))
    return {"root": root, "out": out, "pairs": pairs, "texts": texts, "removed": removed, "shards": shards}


def _same_cluster(removed):
    cluster_of = {}
    for r in removed:
        cluster_of[r["id"]] = r["cluster"]
        cluster_of.setdefault(r["survivor"], r["cluster"])
    return lambda a, b: a in cluster_of and cluster_of.get(a) == cluster_of.get(b)


def test_planted_near_duplicates_recall_and_precision(planted):
    pairs, same = planted["pairs"], _same_cluster(planted["removed"])
    assert len(pairs["near"]) >= 0.9 * POSITIVES and len(pairs["far"]) >= 0.9 * NEGATIVES
    assert all(0.8 <= j < 0.95 for *_, j in pairs["near"]) and all(j < 0.5 for *_, j in pairs["far"])
    found = sum(same(a, b) for a, b, _ in pairs["near"])
    false = sum(same(a, b) for a, b, _ in pairs["far"])
    recall, precision = found / len(pairs["near"]), found / max(1, found + false)
    print(f"planted near duplicates: recall {recall:.3f} ({found}/{len(pairs['near'])}), precision {precision:.3f} "
          f"({false} of {len(pairs['far'])} pairs below 0.5 joined)")
    assert recall >= 0.95 and precision >= 0.98


def test_copies_go_and_originals_survive(planted):
    kinds = {r["id"]: r["kind"] for r in planted["removed"]}
    for _, copy, _ in planted["pairs"]["exact"]:
        assert kinds[copy] == "exact_duplicate"
    survivors = {r["survivor"] for r in planted["removed"]}
    assert not {s for s in survivors if s.startswith(("near/", "far/", "exact/"))}  # the first of a cluster stays
    # every other document removed (a near duplicate among the untouched files) is one: its similarity to
    # another document of its cluster is at least 0.5
    texts, members = planted["texts"], {}
    for r in planted["removed"]:
        members.setdefault(r["cluster"], {r["survivor"]}).add(r["id"])
    for r in planted["removed"]:
        if not r["id"].startswith(("near/", "far/", "exact/")):
            assert max(nd.jaccard(texts[r["id"]], texts[m]) for m in members[r["cluster"]] - {r["id"]}) >= 0.5, r


def test_dedup_resumes_from_finished_shards(planted):
    out = planted["out"]
    summary = drops.read_summary(out, TASK, "train", "dedup")
    kept = beam_dedup.shard_path(out, TASK, "train", 0, 3, ".minhash.npz")
    stamp = os.stat(kept).st_mtime_ns
    # an interrupted run: shard 2's signatures and the summary were never written
    for suffix in (".minhash.npz", ".minhash.json"):
        os.remove(beam_dedup.shard_path(out, TASK, "train", 2, 3, suffix))
    os.remove(drops.summary_path(out, TASK, "train", "dedup"))
    again = beam_dedup.run(TASK, "train", str(out))
    assert os.stat(kept).st_mtime_ns == stamp
    assert list(files.read_lines(drops.list_path(out, TASK, "train", "dedup"))) == planted["removed"]
    assert {k: v for k, v in again.items()} == summary


# -- decontamination ----------------------------------------------------------------------------------
def _leaks(eval_dir):
    from code_in_pretraining.eval import benchmarks, offline

    he = [benchmarks.humaneval(r) for r in offline.read_records(eval_dir / "humaneval.jsonl.gz")][2]
    solution = he["inputs"] + json.loads(he["meta"])["reference"]
    for r in offline.read_records(eval_dir / "triviaqa_val_nocontext.jsonl.gz"):
        qa = f"{r['question']} {r['answer']['value']}"
        if 9 <= len(qa.split()) <= 12:  # a short example: checked whole, through its first words
            return ("humaneval", he["id"], solution), ("triviaqa", r["question_id"], qa)
    raise AssertionError("no short TriviaQA question")


@pytest.fixture(scope="module")
def decontaminated(planted, shared_data):
    eval_dir = shared_data / "eval"
    (he_name, he_id, solution), (qa_name, qa_id, qa) = _leaks(eval_dir)
    originals, kjv, copies = (_read_jsonl(p) for p in planted["shards"])
    originals[7]["text"] = originals[7]["text"] + "\n\n" + solution + "\n\nx = 1\n"  # pasted into a stdlib file
    half = len(kjv[3]["text"]) // 2
    kjv[3]["text"] = kjv[3]["text"][:half] + f" {qa} " + kjv[3]["text"][half:]  # in a KJV chapter
    root = planted["root"] / "leaked"
    root.mkdir()
    paths = [_write(root / p.name, docs) for p, docs in zip(planted["shards"], (originals, kjv, copies))]
    _register(TASK + "_leaked", paths, dedup=nd.DedupConfig())  # as a data config's "dedup": true
    out, report_path = root / "out", root / "report.json"
    decontaminate = ["decontaminate", "--task", TASK + "_leaked", "--out", str(out), "--remove",
                     "--report", str(report_path)]
    prefix = str(vocabulary.default_vocab_path()).removesuffix(".model")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIP_EVAL_DIR", str(eval_dir))
        # materialisation deduplicates first, since the task's source asks for it
        assert main(["materialize", "--task", TASK + "_leaked", "--vocab", prefix, "--out", str(out)]) == 0
        assert main(decontaminate) == 0
    leaked = {originals[7]["id"]: (he_name, he_id), kjv[3]["id"]: (qa_name, qa_id)}
    return {"report": json.loads(report_path.read_text()), "out": out, "leaked": leaked, "argv": decontaminate,
            "eval_dir": eval_dir, "documents": len(originals) + len(kjv) + len(copies)}


def _read_jsonl(path):
    return [json.loads(line) for line in open(path)]


def test_every_planted_leak_is_found_and_nothing_else(decontaminated):
    report, leaked = decontaminated["report"], decontaminated["leaked"]
    source = report["sources"][TASK + "_leaked"]
    found = {d["id"]: d for d in source["examples"]}
    assert set(found) == set(leaked), found  # the untouched documents overlap no evaluation example
    for doc_id, (bench, example_id) in leaked.items():
        assert f"{bench}:{example_id}" in found[doc_id]["matches"]
        entry = report["benchmarks"][bench]
        assert example_id in {e["id"] for e in entry["contaminated_examples"]}
    assert source["contaminated_tokens"] > 0 and source["overlap_words"] >= 9


def test_removal_leaves_duplicates_and_leaks_out_of_the_shards(decontaminated):
    out, task = decontaminated["out"], TASK + "_leaked"
    stats = json.loads((out / task / "train.stats.json").read_text())
    dedup = stats["dedup"]
    assert stats["dropped"]["contaminated"] == 2
    assert stats["dropped"]["near_duplicate"] == dedup["near_duplicate"]
    assert stats["dropped"]["exact_duplicate"] == dedup["exact_duplicate"] >= EXACT
    assert stats["documents"] == decontaminated["documents"] - dedup["removed"] - 2
    assert stats["finished_shards"] == 3 and stats["fingerprint"]


def test_decontamination_resumes_without_redoing_finished_shards(decontaminated, monkeypatch):
    out, task = decontaminated["out"], TASK + "_leaked"
    shard = out / task / "train-00001-of-00003.array_record"
    stamp = os.stat(shard).st_mtime_ns
    results = sorted((out / task / "decontaminate").glob("train-00001-*.json"))
    os.remove(results[0])  # an interrupted run: shard 1 was never scanned
    monkeypatch.setenv("CIP_EVAL_DIR", str(decontaminated["eval_dir"]))
    assert main(decontaminated["argv"]) == 0
    report = json.loads((decontaminated["out"].parent / "report.json").read_text())
    assert report == decontaminated["report"]
    assert os.stat(shard).st_mtime_ns == stamp  # same drops: the shard is not written again


def test_data_config_settings():
    from code_in_pretraining.data import filters, source_config

    spec = {"splits": {"train": ["x.jsonl"]}, "dedup": {"threshold": 0.8}, "on_failed_shard": "skip"}
    source = source_config.from_spec(spec, "text", filters.FilterConfig())
    assert source.dedup == nd.DedupConfig(threshold=0.8) and source.on_failed_shard == "skip"
    assert source_config.from_spec({**spec, "dedup": False}, "text", filters.FilterConfig()).dedup is None
