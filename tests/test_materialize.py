"""Materialisation: task -> ArrayRecord shards, resumable, bad input reported, Beam == in-process."""

from __future__ import annotations

import functools
import json
import os

import grain
import numpy as np
import pytest
import seqio

from code_in_pretraining.cli import main
from code_in_pretraining.data import beam_materialize, materialize, mixtures, vocabulary
from code_in_pretraining.data.sources import Part, ShardedSource
from code_in_pretraining.data.stats import BadInputError


def _register(name, files, on_bad_record="skip", on_failed_shard="fail"):
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name,
        source=ShardedSource([Part("text", {"train": tuple(files)}, format="jsonl")], on_bad_record=on_bad_record,
                             on_failed_shard=on_failed_shard),
        preprocessors=[functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text", "id": "id"}),
                       seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        output_features={"targets": seqio.Feature(vocabulary.default_vocabulary(), add_eos=True)})
    return name


def _files(tmp_path, n=3, per=20):
    paths = []
    for k in range(n):
        p = tmp_path / "in" / f"part{k}.jsonl"
        p.parent.mkdir(exist_ok=True)
        p.write_text("".join(json.dumps({"id": f"{k}/{i}", "text": f"def f_{k}_{i}(x):\n    return x + {i}\n"})
                             + "\n" for i in range(per)))
        paths.append(str(p))
    return paths


def _records(paths):
    return [materialize.decode_record(r) for r in grain.sources.ArrayRecordDataSource([str(p) for p in paths])]


def test_tokens_equal_the_seqio_task(default_data, tmp_path):
    (path,) = materialize.materialize_shards("cooldown_instruct", "validation", tmp_path, progress=False)
    assert path.name == "validation-00000-of-00001.array_record"
    task = mixtures.get_task("cooldown_instruct")
    want = [ex["targets"] for ex in task.get_dataset(sequence_length=None, split="validation",
                                                     shuffle=False).as_numpy_iterator()]
    got = _records([path])
    assert len(got) == len(want) > 0 and all(np.array_equal(a, b) for a, b in zip(got, want))
    assert got[0].dtype == np.int32 and got[0][-1] == task.output_features["targets"].vocabulary.eos_id
    stats = json.loads((path.parent / "validation.stats.json").read_text())
    assert stats["documents"] == len(want) and stats["tokens"] == sum(map(len, want))
    assert materialize.materialize_shards("cooldown_instruct", "validation", tmp_path, progress=False) == [path]


def test_shards_resume_without_duplicates(default_data, tmp_path):
    name = _register("test_mat_resume", _files(tmp_path))
    out = tmp_path / "out"
    paths = materialize.materialize_shards(name, "train", out, progress=False)
    assert [p.name for p in paths] == [f"train-0000{i}-of-00003.array_record" for i in range(3)]
    first = _records(paths)
    stamps = [os.stat(p).st_mtime_ns for p in paths]
    # an interrupted run: shard 1 never finished, a temporary file was left behind
    os.remove(out / name / "train-00001-of-00003.stats.json")
    os.remove(paths[1])
    (out / name / "train-00001-of-00003.array_record.123.tmp").write_bytes(b"partial")
    again = materialize.materialize_shards(name, "train", out, progress=False)
    assert [os.stat(p).st_mtime_ns for p in again][::2] == stamps[::2]  # finished shards untouched
    assert all(np.array_equal(a, b) for a, b in zip(_records(again), first)) and len(first) == 60
    stats = json.loads((out / name / "train.stats.json").read_text())
    assert (stats["documents"], stats["finished_shards"], stats["pending_shards"]) == (60, 3, [])


def test_bad_records_skip_or_fail(default_data, tmp_path):
    files = _files(tmp_path, n=2, per=5)
    with open(files[1], "a") as f:
        f.write('{"id": "x", "text": \n{"id": "y"}\n')
    missing = str(tmp_path / "in" / "gone.jsonl")
    name = _register("test_mat_bad", [*files, missing])
    out = tmp_path / "out"
    paths = materialize.materialize_shards(name, "train", out, progress=False)
    assert len(paths) == 2  # the missing file's shard is not written, so a later run retries it
    stats = json.loads((out / name / "train.stats.json").read_text())
    assert stats["documents"] == 10
    assert stats["malformed"] == {"malformed_json": 1, "missing_field": 1, "missing_file": 1}
    assert {(e["file"], e["line"]) for e in stats["malformed_examples"]} == {(files[1], 6), (files[1], 7),
                                                                             (missing, 0)}
    assert stats["failed_shards"][0]["input"] == missing

    out2 = tmp_path / "out2"
    with pytest.raises(BadInputError, match=r"part1.jsonl:6: malformed_json"):
        materialize.materialize_shards(name, "train", out2, progress=False, on_bad_record="fail")
    assert not (out2 / name / "train-00001-of-00003.array_record").exists()
    assert "part1.jsonl:6" in json.loads((out2 / name / "train-00001-of-00003.failed.json").read_text())["error"]


def test_beam_pipeline_matches_in_process(default_data, tmp_path):
    name = _register("test_mat_beam", _files(tmp_path))
    local = materialize.materialize_shards(name, "train", tmp_path / "local", progress=False)
    prefix = str(vocabulary.default_vocab_path()).removesuffix(".model")
    result = beam_materialize.run([name, "cooldown_math"], "train", str(tmp_path / "beam"), vocab_model=prefix)
    assert result[name]["documents"] == 60 and result["cooldown_math"]["documents"] > 0
    for a in local:
        assert (tmp_path / "beam" / name / a.name).read_bytes() == a.read_bytes()
    # the command line: a second run finds every shard finished
    argv = ["materialize", "--task", name, "--vocab", prefix, "--out", str(tmp_path / "beam")]
    assert main(argv) == 0
    assert main(["materialize", "--task", "nope", *argv[3:]]) == 2


def test_a_failed_shard_makes_the_command_exit_non_zero_unless_skipped(default_data, tmp_path, capsys):
    files = _files(tmp_path, n=1, per=5)
    unreadable = tmp_path / "in" / "cut.jsonl.gz"
    unreadable.write_bytes(b"not gzip at all")
    missing = str(tmp_path / "in" / "gone.jsonl")
    name = _register("test_mat_failed", [*files, str(unreadable), missing])
    prefix = str(vocabulary.default_vocab_path()).removesuffix(".model")
    argv = ["materialize", "--task", name, "--vocab", prefix, "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"shard 2 ({missing}): missing_file" in err and "shard 1" in err and "unreadable_file" in err
    assert (tmp_path / "out" / name / "train-00000-of-00003.array_record").exists()  # the good shard is written
    assert not (tmp_path / "out" / name / "train-00001-of-00003.array_record").exists()
    _register(name, [*files, str(unreadable), missing], on_failed_shard="skip")
    assert main(argv) == 0 and "skipped" in capsys.readouterr().err
