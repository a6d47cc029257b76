"""The embedded default corpus, the code-safe vocabulary, SeqIO tasks, packing and the loader."""

from __future__ import annotations

import gzip
import json
import random
import pathlib
import sysconfig

import numpy as np
import pytest

from code_in_pretraining.data import corpus, mixtures, vocabulary
from code_in_pretraining.data.loader import MixingLoader
from code_in_pretraining.data.packing import pack_sequentially


def _docs(root, source, split="train"):
    with gzip.open(root / source / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_corpus_holds_real_documents(default_data):
    text = {d["id"]: d["text"] for d in _docs(default_data, "text")}
    code = _docs(default_data, "code")
    genesis = text.get("kjv/Genesis 1") or next(t for i, t in text.items() if i.startswith("kjv/Genesis"))
    assert "God" in genesis
    assert any(i.startswith("pydoc/library/") for i in text)
    assert len(code) > 1000 and any(d["id"] == "stdlib/json/decoder.py" for d in code)
    val_ids = {d["id"] for s in ("text", "code") for d in _docs(default_data, s, "validation")}
    train_ids = set(text) | {d["id"] for d in code}
    assert val_ids and not (val_ids & train_ids)
    assert all(corpus.split_of(i) == "validation" for i in val_ids)


def test_vocabulary_round_trips_standard_library_exactly(default_data):
    sp = vocabulary.load(vocabulary.default_vocab_path())
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    sample = random.Random(0).sample(files, 150)
    checked = 0
    for path in sample:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        assert sp.decode(sp.encode(text)) == text, path
        checked += 1
    assert checked > 100
    tricky = "def f(a):\n\tif a:\t# tab\n        return 'ünï ☃'  \n\n\n    \n"
    assert sp.decode(sp.encode(tricky)) == tricky
    pieces = [sp.id_to_piece(i) for i in sp.encode("    return x\n")]
    assert "\n" in pieces  # newlines are pieces, not bytes


def test_seqio_task_tokens_decode_to_the_source_text(default_data):
    task = mixtures.get_task("code")
    v = task.output_features["targets"].vocabulary
    raw = {ex["id"].decode(): ex["text"].decode()
           for ex in task.source.get_dataset("validation").as_numpy_iterator()}
    for ex in task.get_dataset(sequence_length=None, split="validation", shuffle=False).take(5):
        ids = ex["targets"].numpy().tolist()
        assert ids[-1] == v.eos_id
        assert v.decode(ids[:-1]) == raw[ex["id"].numpy().decode()]


def test_unknown_names_are_reported_with_what_exists():
    with pytest.raises(KeyError, match="unknown task 'nope'.*text"):
        mixtures.get_task("nope")
    with pytest.raises(KeyError, match="unknown mixture or task .nope.*demo_balanced"):
        mixtures.mixture_weights("nope")
    assert mixtures.mixture_weights("demo_balanced") == {"text": 0.5, "code": 0.5}


def test_missing_data_file_is_named(tmp_path):
    from code_in_pretraining.data import sources

    src = sources.jsonl_source({"train": [str(tmp_path / "missing.jsonl.gz")]})
    with pytest.raises(FileNotFoundError, match="missing.jsonl.gz"):
        src.get_dataset("train")


def test_malformed_records_are_skipped_and_counted(tmp_path):
    from code_in_pretraining.data import sources

    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "ok"}\n{not json\n{"id": "b"}\n{"id": "c", "text": "  "}\n'
                    '{"id": "d", "text": "fine"}\n')
    got = [r["id"] for r in sources.read_jsonl(str(path))]
    assert got == ["a", "d"]
    assert sources.SKIPPED[str(path)] == {"JSONDecodeError": 1, "KeyError": 1, "empty_text": 1}


def test_packing_sets_segment_ids_and_positions():
    docs = [np.arange(1, 6), np.arange(10, 13), np.arange(20, 30)]
    (rows,) = list(pack_sequentially(docs, batch=3, length=6))
    np.testing.assert_array_equal(rows.tokens[0], [1, 2, 3, 4, 5, 10])
    np.testing.assert_array_equal(rows.segment_ids[0], [1, 1, 1, 1, 1, 2])
    np.testing.assert_array_equal(rows.positions[0], [0, 1, 2, 3, 4, 0])
    # the second document continues in the next row, with positions restarting
    np.testing.assert_array_equal(rows.tokens[1], [11, 12, 20, 21, 22, 23])
    np.testing.assert_array_equal(rows.segment_ids[1], [1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(rows.positions[1], [0, 1, 0, 1, 2, 3])
    # the tail is padding: segment 0, source -1
    np.testing.assert_array_equal(rows.segment_ids[2], [1, 1, 1, 1, 1, 1])
    assert rows.fill() == 1.0


def test_loader_mixes_by_tokens_and_fills_rows(shards):
    loader = MixingLoader(shards, {"text": 0.25, "code": 0.75}, seq_len=512, global_batch=8, seed=1)
    seen = set()
    for _ in range(60):  # 245,760 tokens
        rows = next(loader)
        seen |= set(np.unique(rows.source_ids).tolist())
        assert rows.fill() == 1.0
        # positions restart at every segment start
        starts = np.diff(rows.segment_ids, axis=1, prepend=0) != 0
        assert (rows.positions[starts] == 0).all()
    counts = loader.token_counts()
    total = sum(counts.values())
    assert total == 60 * 8 * 512
    assert abs(counts["text"] / total - 0.25) < 0.005
    assert seen == {0, 1}  # no padding anywhere


def test_loader_resumes_exactly_and_splits_across_processes(shards):
    weights = {"text": 0.5, "code": 0.5}
    kw = dict(seq_len=256, global_batch=4, seed=3)
    full = MixingLoader(shards, weights, **kw)
    batches = [next(full).tokens for _ in range(6)]

    first = MixingLoader(shards, weights, **kw)
    for _ in range(3):
        next(first)
    state = json.loads(json.dumps(first.get_state()))  # it goes through a JSON checkpoint
    resumed = MixingLoader(shards, weights, **kw)
    resumed.set_state(state)
    for b in batches[3:]:
        np.testing.assert_array_equal(next(resumed).tokens, b)

    halves = [MixingLoader(shards, weights, **kw, row_start=a, row_end=a + 2) for a in (0, 2)]
    for b in batches:
        np.testing.assert_array_equal(np.concatenate([next(h).tokens for h in halves]), b)


def test_vocabulary_sample_follows_token_weights(default_data):
    # a source with twice the bytes per token gets twice the bytes for the same token weight
    docs = mixtures.sample_documents("demo_balanced", 400_000, bytes_per_token={"text": 4.0, "code": 2.0})
    code_ids = {d["text"] for d in _docs(default_data, "code")}
    code_bytes = sum(len(d.encode()) for d in docs if d in code_ids)
    text_bytes = sum(len(d.encode()) for d in docs if d not in code_ids)
    assert 1.6 < text_bytes / code_bytes < 2.6
