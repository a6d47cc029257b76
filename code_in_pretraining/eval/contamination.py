"""The evaluation suite as texts to decontaminate training data against, and clean subsets.

Each example of every benchmark with an offline copy gives the texts a leak would
carry: the prompt with its gold answer (the gold choice of a multiple-choice item, the
first accepted answer of a question), and for code the prompt with the canonical
solution and the tests. The prompt templates' own words ("Question:", "Answer:") are
left out, since a training document would not carry them. Examples are numbered in
suite order (`owner`), the number the n-gram index (data/ngrams.py) reports matches by;
an example is named by its benchmark and its position in the offline file, the order
`suite.load_examples` reads.

`cip eval --clean-only REPORT` drops the examples a decontamination report lists,
after checking that the report was made from the same evaluation files.
"""

from __future__ import annotations

import collections
import json
import pathlib
import re

from code_in_pretraining.data import fingerprint
from code_in_pretraining.eval import benchmarks, offline

_TEMPLATE = re.compile(r"^(?:Question|Answer):\s?", re.MULTILINE)


def _prompt(text: str) -> str:
    return _TEMPLATE.sub("", text).strip()


def example_texts(kind: str, ex: dict) -> list[str]:
    """The texts of one canonical example (benchmarks.example) that a leak would carry."""
    if kind == "mc":
        gold = ex["choices"][ex["label"]] if 0 <= ex["label"] < len(ex["choices"]) else ""
        context = ex["contexts"][ex["label"]] if ex["contexts"] else _prompt(ex["inputs"])
        return [context + gold]
    if kind == "qa":
        return [_prompt(ex["inputs"]) + (" " + ex["answers"][0] if ex["answers"] else "")]
    meta = json.loads(ex["meta"])
    if meta.get("task") == "humaneval":
        return [ex["inputs"] + meta["reference"], meta["test"]]
    return [ex["inputs"], meta["reference"], "\n".join(meta.get("tests", []))]


def offline_path(name: str) -> pathlib.Path | None:
    bench = benchmarks.BENCHMARKS[name]
    return offline.eval_dir() / bench.offline_file if bench.offline_file else None


def suite_texts(suite: str = "paper") -> tuple[list[dict], list[tuple[int, str]], dict]:
    """(examples [{benchmark, index, id}] by owner number, (owner, text) pairs, per benchmark: its file's
    fingerprint and example count, or why it is not available)."""
    if suite not in benchmarks.SUITES:
        raise KeyError(f"unknown suite {suite!r}; suites: {sorted(benchmarks.SUITES)}")
    examples, texts, sets = [], [], {}
    for name in benchmarks.SUITES[suite]:
        path = offline_path(name)
        if path is None or not path.exists():
            sets[name] = {"available": False, "reason": "no offline copy" if path is None else f"{path} missing "
                          "(run `cip data fetch-evals` or set CIP_EVAL_DIR)"}
            continue
        bench = benchmarks.BENCHMARKS[name]
        count = 0
        for i, record in enumerate(offline.read_records(path)):
            ex = bench.offline_format(record)
            owner = len(examples)
            examples.append({"benchmark": name, "index": i, "id": ex["id"]})
            texts += [(owner, t) for t in example_texts(bench.kind, ex) if t.strip()]
            count += 1
        sets[name] = {"available": True, "examples": count, "file": str(path),
                      "file_fingerprint": fingerprint.of_files([path])}
    return examples, texts, sets


def contaminated_indices(report: dict, name: str) -> set[int]:
    """Positions (in the offline file) of a benchmark's examples that the report found in training data;
    refuses a report made from another copy of the evaluation file."""
    entry = report.get("benchmarks", {}).get(name)
    if not entry or not entry.get("available"):
        return set()
    path = offline_path(name)
    if path is None or not path.exists() or fingerprint.of_files([path]) != entry["file_fingerprint"]:
        raise ValueError(f"the decontamination report was made from another copy of {name}'s evaluation file "
                         f"({entry.get('file')}); run `cip decontaminate` again")
    return {e["index"] for e in entry["contaminated_examples"]}


def read_report(path: str) -> dict:
    p = pathlib.Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"decontamination report {path}: no such file (`cip decontaminate` writes it)")
    return json.loads(p.read_text())


def build_index(suite: str = "paper", *, n: int = 13, min_words: int = 8):
    """The n-gram index of a suite's examples and what the report needs of them: (index, meta)."""
    from code_in_pretraining.data.ngrams import NgramIndex

    examples, texts, sets = suite_texts(suite)
    if not any(s["available"] for s in sets.values()):
        raise FileNotFoundError(f"no evaluation set of suite {suite!r} has an offline copy in {offline.eval_dir()} "
                                f"(run `cip data fetch-evals` or set CIP_EVAL_DIR)")
    index, grams = NgramIndex.build(texts, n=n, min_words=min_words)
    checked = collections.Counter(examples[o]["benchmark"] for o in grams)
    for name, s in sets.items():
        if s["available"]:
            s["checked"] = checked[name]  # examples with at least one gram; the rest are too short to check
    return index, {"suite": suite, "examples": examples, "sets": sets, "grams": len(index.hashes),
                   "n": n, "min_words": min_words}
