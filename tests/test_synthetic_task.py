"""The synthetic_code SeqIO task reads what `cip synth` writes."""

from __future__ import annotations

import pytest

from code_in_pretraining.data import corpus, vocabulary
from code_in_pretraining.synthetic import generate


def test_task_reads_a_generated_file(tmp_path, monkeypatch):
    if not vocabulary.default_vocab_path().exists():
        pytest.skip("no default vocabulary (run `cip demo` or `cip vocab train`)")
    records, _ = generate.generate(11, seed=5, workers=2)
    path = tmp_path / "synthetic_code.jsonl.gz"
    generate.write_jsonl(records, path)
    monkeypatch.setenv("CIP_SYNTH_FILE", str(path))

    import seqio
    from tasks import synthetic  # noqa: F401

    task = seqio.get_mixture_or_task("synthetic_code")
    vocab = task.output_features["targets"].vocabulary
    seen = {}
    for split in corpus.SPLITS:
        ds = task.get_dataset(sequence_length={"targets": 4096}, split=split, shuffle=False)
        for ex in ds.as_numpy_iterator():
            ids = ex["targets"].tolist()
            assert ids[-1] == 1  # EOS
            seen[ex["id"].decode()] = (split, vocab.decode(ids[:-1]))
    assert set(seen) == {r["id"] for r in records}
    for r in records:
        split, text = seen[r["id"]]
        assert split == corpus.split_of(r["id"]) and text == r["text"]
