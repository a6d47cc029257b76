"""The synthetic_code SeqIO task reads what `cip synth` writes: one file, or a directory of Beam shards."""

from __future__ import annotations

import pytest

from code_in_pretraining.data import corpus, vocabulary
from code_in_pretraining.synthetic import beam_synth, generate, output


@pytest.fixture(scope="module")
def records():
    if not vocabulary.default_vocab_path().exists():
        pytest.skip("no default vocabulary (run `cip demo` or `cip vocab train`)")
    return generate.generate(11, seed=5, workers=2)[0]


def _write_file(records, tmp_path):
    path = tmp_path / "synthetic_code.jsonl.gz"
    output.write_jsonl(records, path)
    return path


def _write_shards(records, tmp_path):
    paths = beam_synth.write_shards(records, tmp_path)
    assert len(paths) == 1
    # Three shards of the same records, as a larger run writes them.
    for old in paths:
        old.unlink()
    for k in range(3):
        output.write_jsonl(records[k * 4:(k + 1) * 4], tmp_path / f"synthetic_code-{k:05d}-of-00003.jsonl.gz")
    return tmp_path


@pytest.mark.parametrize("write", [_write_file, _write_shards], ids=["file", "shards"])
def test_task_reads_what_synth_writes(records, tmp_path, monkeypatch, write):
    monkeypatch.setenv("CIP_SYNTH_FILE", str(write(records, tmp_path)))

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
