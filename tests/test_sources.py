"""Sources: readers, record shapes, filters, bad input, the data config, the offline tasks."""

from __future__ import annotations

import gzip
import json

import pytest

from code_in_pretraining.data import filters as F
from code_in_pretraining.data import records, source_config
from code_in_pretraining.data.sources import Part, ShardedSource
from code_in_pretraining.data.stats import BadInputError, SourceStats


def _read(source, split="train", policy=None):
    stats, docs = SourceStats(), []
    for shard in source.list_shards(split):
        docs += list(source.documents(split, shard, stats, policy))
    return docs, stats


def _jsonl(path, rows, opener=open):
    with opener(path, "wb") as f:
        for r in rows:
            f.write(r if isinstance(r, bytes) else (json.dumps(r) + "\n").encode())
    return str(path)


def test_formats_jsonl_gz_zst_parquet_array_record(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard
    from array_record.python import array_record_module

    rows = [{"id": f"d{i}", "text": f"document {i}"} for i in range(5)]
    _jsonl(tmp_path / "a.jsonl", rows[:2])
    _jsonl(tmp_path / "b.jsonl.gz", rows[2:3], gzip.open)
    with open(tmp_path / "c.jsonl.zst", "wb") as f:
        f.write(zstandard.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in rows[3:4]).encode()))
    pq.write_table(pa.Table.from_pylist(rows[4:]), tmp_path / "d.parquet")
    w = array_record_module.ArrayRecordWriter(str(tmp_path / "e.array_record"), "group_size:1")
    w.write(json.dumps({"id": "e0", "text": "from array_record"}).encode())
    w.close()
    source = ShardedSource([Part("text", {"train": (str(tmp_path / "*"),)})])
    assert len(source.list_shards("train")) == 5  # one shard per file
    docs, stats = _read(source)
    assert sorted(d["id"] for d in docs) == ["d0", "d1", "d2", "d3", "d4", "e0"]
    assert stats.documents == 6 and not stats.malformed


def test_bad_input_is_counted_with_file_and_line(tmp_path):
    big = "x" * (50 << 20)  # a 50 MB document
    path = _jsonl(tmp_path / "bad.jsonl", [
        {"id": "ok1", "text": "fine"},
        b"{not json\n",
        b'{"id": "u", "text": "\xff\xfe broken"}\n',
        {"id": "empty", "text": "   "},
        {"id": "nofield"},
        {"id": "big", "text": big},
        [1, 2],
        {"id": "ok2", "text": "also fine"},
    ])
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"id": "t1", "text": "before the cut"}\n' * 2000)[:-200])
    missing = str(tmp_path / "missing.jsonl")
    source = ShardedSource([Part("text", {"train": (path, str(truncated), missing)})],
                           max_document_bytes=1 << 20)
    docs, stats = _read(source)
    assert [d["id"] for d in docs][:2] == ["ok1", "ok2"]
    assert all(d["id"] == "t1" for d in docs[2:]) and len(docs) > 2
    assert stats.malformed == {"malformed_json": 2, "invalid_utf8": 1, "empty_text": 1, "missing_field": 1,
                               "too_large": 1, "unreadable_file": 1, "missing_file": 1}
    where = {(e["file"], e["line"], e["reason"]) for e in stats.malformed_examples}
    assert {(path, 2, "malformed_json"), (path, 3, "invalid_utf8"), (path, 6, "too_large"),
            (missing, 0, "missing_file")} <= where
    with pytest.raises(BadInputError, match=r"bad.jsonl:2: malformed_json"):
        _read(source, policy="fail")


def test_record_shapes():
    slim = records.slimpajama({"text": "t", "meta": {"redpajama_set_name": "RedPajamaGitHub"}}, "x")
    assert slim.origin == "RedPajamaGitHub"
    assert records.stack({"content": "x = 1", "lang": "C#"}, "x").lang == "c-sharp"
    assert records.stack({"content": "x = 1", "path": "a/b.py"}, "x").lang == "python"
    commit = records.commit({"subject": "Fix bug", "message": "Longer why.", "old_contents": "a\n",
                             "new_contents": "b\n", "new_file": "f.py"}, "x")
    assert commit.text.startswith("Fix bug\n\nLonger why.\n\n--- a/f.py") and "+b" in commit.text
    nb = {"cells": [{"cell_type": "markdown", "source": ["# Title\n", "prose"]},
                    {"cell_type": "code", "source": "print(1)", "outputs": [{"text": "1"}]}]}
    for record in (nb, {"content": json.dumps(nb)}):
        assert records.notebook(record, "x").text == "# Title\nprose\n\n```python\nprint(1)\n```\n"
    se = records.stackexchange({"title": "Q?", "question": "Why?", "answers": [
        {"body": "low", "score": 1}, {"body": "high", "score": 9}]}, "x")
    assert se.text == "Q?\n\nWhy?\n\nAnswer:\nhigh\n\nAnswer:\nlow\n"
    assert records.synthetic({"prompt": "P", "solution": "S", "tests": "T"}, "x").text == "P\n\nS\n\nT\n"
    ins = records.instruct({"instruction": "Do", "input": "this", "output": "done"}, "x").text
    assert ins == "Instruction:\nDo\n\nInput:\nthis\n\nResponse:\ndone\n"
    chat = records.instruct({"messages": [{"role": "user", "content": "hi"},
                                          {"role": "assistant", "content": "hello"}]}, "x")
    assert chat.text == "User: hi\n\nAssistant: hello\n"
    with pytest.raises(records.BadRecord, match="missing_field"):
        records.commit({"diff": "x"}, "x")


def test_web_code_filters_drop_and_count(tmp_path):
    floats = "w = [" + ", ".join(f"{i * 0.137:.6f}" for i in range(400)) + "]\n"
    hexes = "t = b'" + "".join(f"\\x{i % 256:02x}" for i in range(800)) + "'\n"
    gen = "# Code generated by protoc. DO NOT EDIT.\nx = 1\n"
    rows = [{"id": "f.py", "content": floats, "lang": "Python"},
            {"id": "h.py", "content": hexes, "lang": "Python"},
            {"id": "g.go", "content": gen, "lang": "Go"},
            {"id": "k.cob", "content": "DISPLAY 'HI'.", "lang": "COBOL"},
            {"id": "ok.py", "content": "def f(x):\n    return x * 2.5\n", "lang": "Python"}]
    source = ShardedSource([Part("stack", {"train": (_jsonl(tmp_path / "s.jsonl", rows),)})], F.WEB_CODE)
    docs, stats = _read(source)
    assert [d["id"] for d in docs] == ["ok.py"]
    assert stats.dropped == {"float_literals": 1, "hex_literals": 1, "autogenerated": 1, "language": 1}
    assert F.float_fraction(floats) > 0.5 and F.float_fraction(rows[-1]["content"]) < 0.2


def test_slimpajama_drops_github_and_stackexchange(tmp_path):
    rows = [{"text": f"doc {s}", "meta": {"redpajama_set_name": s}}
            for s in ("RedPajamaCommonCrawl", "RedPajamaGitHub", "RedPajamaStackExchange", "RedPajamaBook")]
    source = ShardedSource([Part("slimpajama", {"train": (_jsonl(tmp_path / "sp.jsonl", rows),)})], F.SLIMPAJAMA)
    docs, stats = _read(source)
    assert [d["text"] for d in docs] == ["doc RedPajamaCommonCrawl", "doc RedPajamaBook"]
    assert stats.dropped == {"origin": 2}


def test_data_config_multi_part_and_overrides(tmp_path):
    commits = _jsonl(tmp_path / "c.jsonl", [{"id": "c", "subject": "s", "message": "m", "diff": "+x"}])
    threads = _jsonl(tmp_path / "t.jsonl", [{"id": "t", "title": "T?", "question": "q", "answers": ["a"]}])
    cfg_path = tmp_path / "sources.json"
    cfg_path.write_text(json.dumps({"code_adjacent": {
        "parts": [{"shape": "commit", "splits": {"train": [commits]}},
                  {"shape": "stackexchange", "splits": {"train": [threads]}}],
        "on_bad_record": "fail"},
        "stack_code": {"format": "jsonl", "splits": {"train": str(tmp_path / "c*.jsonl")},
                       "filters": {"max_float_fraction": 0.1}}}))
    config = source_config.load(cfg_path)
    adj = source_config.from_spec(config["code_adjacent"], "commit", F.FilterConfig())
    docs, _ = _read(adj)
    assert [d["text"] for d in docs] == ["s\n\nm\n\n+x\n", "T?\n\nq\n\nAnswer:\na\n"]
    assert adj.on_bad_record == "fail"
    stack = source_config.from_spec(config["stack_code"], "stack", F.WEB_CODE)
    assert stack.filter_config.max_float_fraction == 0.1 and stack.filter_config.languages == F.TOP25_LANGUAGES
    with pytest.raises(KeyError, match="unknown filter settings"):
        source_config.from_spec({"splits": {"train": [commits]}, "filters": {"nope": 1}}, "text", F.FilterConfig())
    with pytest.raises(FileNotFoundError, match="no files match"):
        ShardedSource([Part("text", {"train": (str(tmp_path / "none-*.jsonl"),)})]).list_shards("train")


def test_offline_tasks_read_the_default_corpus(default_data):
    from code_in_pretraining.data import mixtures

    want = {"slimpajama": "kjv/", "stack_code": "stdlib/", "markup": "pydoc/", "code_adjacent": "changelog/",
            "cooldown_instruct": "pydoc/faq/"}
    for name, prefix in want.items():
        source = mixtures.get_task(name).source
        docs, stats = _read(source, "validation")  # the small split keeps this quick
        assert docs and all(d["id"].startswith(prefix) for d in docs), name
        assert not stats.malformed, (name, stats.malformed)
    math_ids = {d["id"] for d in _read(mixtures.get_task("cooldown_math").source)[0]}
    assert "pydoc/library/math.rst.txt" in math_ids and len(math_ids) <= 7


def test_shared_corpora_through_a_configured_zst_source(shared_data, tmp_path):
    import zstandard

    path = shared_data / "corpora" / "tinyshakespeare.txt.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    speeches = gzip.decompress(path.read_bytes()).decode().split("\n\n")
    out = tmp_path / "shakespeare.jsonl.zst"
    with zstandard.open(out, "wt", encoding="utf-8") as f:
        for i, s in enumerate(speeches):
            f.write(json.dumps({"id": f"ts/{i}", "text": s}) + "\n")
    source = source_config.from_spec({"splits": {"train": [str(out)]}}, "text", F.FilterConfig())
    docs, stats = _read(source)
    assert len(docs) == sum(1 for s in speeches if s.strip()) and stats.documents == len(docs)
