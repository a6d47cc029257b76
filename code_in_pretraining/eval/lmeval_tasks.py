"""The offline lm-eval tasks: task YAMLs over the files of `cip data fetch-evals`.

The package ships one YAML per benchmark with an offline copy (`lmeval_yaml/`), each
lm-eval's own prompt format over `dataset_path: json`. Their `data_files` name the
offline directory as `$CIP_EVAL_DIR`; `write_task_dir` writes them out with the real
directory in its place, for lm-eval's `--include_path` / `TaskManager(include_path=...)`.
A task whose file is missing is not written (lm-eval would fail on it at load time), nor
one that includes such a task (`include:`, which ARC-Challenge uses).
Nothing here imports lm-eval, so `cip lm-eval --help` lists the tasks without it.
"""

from __future__ import annotations

import json
import pathlib
import re

from code_in_pretraining.eval.offline import eval_dir

TEMPLATES = pathlib.Path(__file__).with_name("lmeval_yaml")
PLACEHOLDER = "$CIP_EVAL_DIR"
TASK_DIR = "lm_eval_tasks"  # under the offline directory, written by `cip data fetch-evals`
_DATA_FILE = re.compile(r'"\$CIP_EVAL_DIR/([^"]+)"')
_INCLUDE = re.compile(r"^include: (\S+)\.yaml$", re.MULTILINE)


def task_names() -> list[str]:
    """The offline tasks (each file's name is its task's)."""
    return sorted(p.stem for p in TEMPLATES.glob("*.yaml"))


def data_files(task: str) -> list[str]:
    """The offline files task `task` and the tasks it includes read, relative to the offline directory."""
    text = (TEMPLATES / f"{task}.yaml").read_text()
    return _DATA_FILE.findall(text) + [f for base in _INCLUDE.findall(text) for f in data_files(base)]


def write_task_dir(out: str | pathlib.Path, offline_dir: str | pathlib.Path | None = None) -> dict[str, list]:
    """Writes the offline tasks whose files exist under `offline_dir` (default: eval_dir()) into `out`.

    Returns {"written": task names, "missing": [(task, file), ...]}.
    """
    out, src = pathlib.Path(out), pathlib.Path(offline_dir or eval_dir()).absolute()
    out.mkdir(parents=True, exist_ok=True)
    written, missing = [], []
    for task in task_names():
        absent = [f for f in data_files(task) if not (src / f).is_file()]
        if absent:
            missing += [(task, str(src / f)) for f in absent]
            continue
        text = (TEMPLATES / f"{task}.yaml").read_text()
        quoted = json.dumps(str(src))[1:-1]  # the directory inside a double-quoted YAML string
        (out / f"{task}.yaml").write_text(text.replace(PLACEHOLDER, quoted))
        written.append(task)
    return {"written": written, "missing": missing}


def default_task_dir() -> pathlib.Path:
    """Where `cip data fetch-evals` writes the offline tasks, for lm-eval's --include_path."""
    return eval_dir() / TASK_DIR
