"""The paper's benchmarks: where each comes from and how a record becomes a prompt.

Every benchmark turns a source record into one canonical example:

  id        str
  inputs    context (multiple choice) or prompt (QA, code)
  contexts  per-choice contexts when they differ (WinoGrande), else []
  choices   continuations to score (multiple choice), else []
  label     index of the gold choice, -1 if none
  answers   accepted answers (QA), else []
  meta      JSON string: tests and entry point (code)

Two sources per benchmark: the offline JSON Lines file (`cip data fetch-evals`,
records as the Hugging Face / oe-eval copies store them) and the real TFDS
builder for users with network. Prompts are zero-shot in the common
log-likelihood style ("Question: ...\\nAnswer:"), continuations with a leading
space. `primary` is the metric reported for a task, the one its benchmark
defines: accuracy (length-normalised where the standard harnesses use it:
HellaSwag, ARC, PIQA, SciQ, OpenBookQA), exact match for TriviaQA and NQ-Open,
word-overlap F1 for QuAC (whose answers are spans of a passage), pass@1 for code.

Every benchmark also has a gold continuation (`gold`), whose bits per byte under
the model the suite reports beside the score: the correct choice, the first
reference answer, or the canonical solution.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable

GROUPS = ("reason", "know", "code")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    name: str
    group: str  # reason | know | code | extra
    kind: str  # mc | qa | code
    primary: str  # metric reported for the task
    tfds_name: str
    tfds_split: str
    tfds_format: Callable[[dict], dict]
    offline_file: str | None = None
    offline_split: str | None = None
    offline_format: Callable[[dict], dict] | None = None
    # QA generation: the answer ends at the first of `stop` (short answers end at "." or ",";
    # QuAC's spans are sentences, so only a newline ends them).
    stop: tuple[str, ...] = ("\n", ".", ",")
    max_new_tokens: int = 32


def example(id_, inputs, *, choices=(), label=-1, contexts=(), answers=(), meta=None) -> dict:
    return {"id": str(id_), "inputs": inputs, "contexts": list(contexts), "choices": list(choices),
            "label": int(label), "answers": list(answers), "meta": json.dumps(meta or {})}


def _qa(question: str) -> str:
    return f"Question: {question}\nAnswer:"


def boolq(r):
    q = r["question"].rstrip("?")
    label = r["answer"] if "answer" in r else r["label"]
    return example(r.get("idx", q), f"{r['passage']}\nQuestion: {q}?\nAnswer:", choices=[" no", " yes"],
                   label=int(bool(label)))


def piqa(r):
    return example(r["goal"], _qa(r["goal"]), choices=[" " + r["sol1"], " " + r["sol2"]], label=r["label"])


def siqa(r):
    return example(r["context"] + r["question"], _qa(f"{r['context']} {r['question']}"),
                   choices=[" " + r[k] for k in ("answerA", "answerB", "answerC")], label=int(r["label"]) - 1)


def copa(r):
    connector = {"cause": " because", "effect": " therefore"}[r["question"]]

    def lower_first(s):
        return s[:1].lower() + s[1:]

    return example(r.get("idx", r["premise"]), r["premise"].strip().rstrip(".") + connector,
                   choices=[" " + lower_first(r["choice1"]), " " + lower_first(r["choice2"])], label=r["label"])


def hellaswag_clean(text: str) -> str:
    """HellaSwag text without its WikiHow artefacts (bracketed tags, doubled spaces)."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag(r):
    ctx = r["ctx_a"] + " " + r["ctx_b"].capitalize() if "ctx_a" in r else r["context"]
    return example(r.get("ind", ctx), hellaswag_clean(f"{r['activity_label']}: {ctx}"),
                   choices=[" " + hellaswag_clean(e) for e in r["endings"]], label=int(r["label"]))


def winogrande(r):
    """Scores the text after the blank given each option in it (partial scoring)."""
    sentence = r["sentence"]
    i = sentence.index("_")
    continuation = " " + sentence[i + 1:].strip()
    label = int(r["answer"]) - 1 if "answer" in r else int(r["label"])
    return example(sentence, sentence[:i], contexts=[sentence[:i] + r["option1"], sentence[:i] + r["option2"]],
                   choices=[continuation, continuation], label=label)


def arc(r):
    labels = list(r["choices"]["label"])
    return example(r.get("id", r["question"]), _qa(r["question"]),
                   choices=[" " + t for t in r["choices"]["text"]], label=labels.index(r["answerKey"]))


def openbookqa(r):
    labels = list(r["choices"]["label"])
    return example(r["id"], r["question_stem"], choices=[" " + t for t in r["choices"]["text"]],
                   label=labels.index(r["answerKey"]))


def sciq(r):
    choices = [r["distractor1"], r["distractor2"], r["distractor3"], r["correct_answer"]]
    return example(r["question"], f"{r['support'].strip()}\nQuestion: {r['question']}\nAnswer:".lstrip(),
                   choices=[" " + c for c in choices], label=3)


def cb(r):
    return example(r.get("idx", r["premise"]),
                   f"{r['premise']}\nQuestion: {r['hypothesis']}. True, False, or Neither?\nAnswer:",
                   choices=[" True", " False", " Neither"], label=r["label"])


def story_cloze(r):
    if "input_sentence_1" in r:
        context = " ".join(r[f"input_sentence_{i}"] for i in range(1, 5))
        endings, label = [r["sentence_quiz1"], r["sentence_quiz2"]], int(r["answer_right_ending"]) - 1
    else:
        context, endings, label = r["context"], list(r["endings"]), int(r["label"])
    return example(context, context, choices=[" " + e for e in endings], label=label)


def quac(r):
    answers = r["answers"]["texts"] if isinstance(r.get("answers"), dict) else r["orig_answer"]["texts"]
    return example(r.get("id", r["question"]), f"{r['context']}\n\n{_qa(r['question'])}",
                   answers=[a for a in answers if a])


def triviaqa(r):
    a = r["answer"]
    answers = list(dict.fromkeys([a["value"], *a["aliases"], *a.get("normalized_aliases", [])]))
    return example(r["question_id"], _qa(r["question"]), answers=answers)


def nq_open(r):
    return example(r["question"], _qa(r["question"].rstrip("?") + "?"), answers=list(r["answer"]))


def humaneval(r):
    meta = {"task": "humaneval", "test": r["test"], "entry_point": r["entry_point"],
            "reference": r["canonical_solution"]}
    return example(r["task_id"], r["prompt"], meta=meta)


def mbpp(r):
    tests = list(r["test_list"])
    meta = {"task": "mbpp", "tests": tests, "setup": r.get("test_setup_code", ""), "reference": r["code"]}
    return example(r["task_id"], f'"""\n{r["text"]}\n{tests[0]}\n"""\n', meta=meta)


def _b(name, group, kind, primary, tfds_name, tfds_split, fmt, offline_file=None, offline_split=None, **kw):
    return Benchmark(name, group, kind, primary, tfds_name, tfds_split, fmt, offline_file, offline_split,
                     fmt if offline_file else None, **kw)


# Names ending in the TFDS catalogue; "huggingface:..." goes through TFDS's Hugging Face builder.
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    # NL reasoning: the paper's 11.
    _b("boolq", "reason", "mc", "accuracy", "super_glue/boolq", "validation", boolq,
       "boolq_val.jsonl.gz", "validation"),
    _b("piqa", "reason", "mc", "accuracy_norm", "piqa", "validation", piqa, "piqa_val.jsonl.gz", "validation"),
    _b("sciq", "reason", "mc", "accuracy_norm", "huggingface:sciq", "test", sciq,
       "sciq_val.jsonl.gz", "validation"),  # written by fetch-evals; not in every offline copy
    _b("siqa", "reason", "mc", "accuracy", "huggingface:social_i_qa", "validation", siqa,
       "siqa_val.jsonl.gz", "validation"),
    _b("quac", "reason", "qa", "f1", "quac", "validation", quac, stop=("\n",), max_new_tokens=64),
    _b("cb", "reason", "mc", "accuracy", "super_glue/cb", "validation", cb),
    _b("copa", "reason", "mc", "accuracy", "super_glue/copa", "validation", copa,
       "copa_val.jsonl.gz", "validation"),
    _b("story_cloze", "reason", "mc", "accuracy", "story_cloze/2016", "validation", story_cloze),
    _b("hellaswag", "reason", "mc", "accuracy_norm", "hellaswag", "validation", hellaswag,
       "hellaswag_val.jsonl.gz", "validation"),
    _b("winogrande", "reason", "mc", "accuracy", "winogrande", "validation", winogrande,
       "winogrande_val.jsonl.gz", "validation"),
    _b("arc_easy", "reason", "mc", "accuracy_norm", "ai2_arc/ARC-Easy", "test", arc,
       "arc_easy_val.jsonl.gz", "validation"),
    # World knowledge.
    _b("triviaqa", "know", "qa", "exact_match", "trivia_qa/rc.nocontext", "validation", triviaqa,
       "triviaqa_val_nocontext.jsonl.gz", "validation"),
    _b("nq_open", "know", "qa", "exact_match", "natural_questions_open", "validation", nq_open,
       "nq_open_val.jsonl.gz", "validation"),
    # Code.
    _b("humaneval", "code", "code", "pass@1", "huggingface:openai_humaneval", "test", humaneval,
       "humaneval.jsonl.gz", "test"),
    _b("mbpp", "code", "code", "pass@1", "huggingface:mbpp", "test", mbpp, "mbpp_test.jsonl.gz", "test"),
    # Extra (offline copies exist; not part of the paper's averages).
    _b("arc_challenge", "extra", "mc", "accuracy_norm", "ai2_arc/ARC-Challenge", "test", arc,
       "arc_challenge_val.jsonl.gz", "validation"),
    _b("openbookqa", "extra", "mc", "accuracy_norm", "openbookqa", "validation", openbookqa,
       "openbookqa_val.jsonl.gz", "validation"),
]}

PAPER_GROUPS = {g: tuple(n for n, b in BENCHMARKS.items() if b.group == g) for g in GROUPS}
SUITES = {
    "paper": PAPER_GROUPS["reason"] + PAPER_GROUPS["know"] + PAPER_GROUPS["code"],
    "quick": ("piqa", "copa", "arc_easy", "triviaqa", "nq_open", "humaneval", "mbpp"),
}


GOLD = {"mc": "the correct choice", "qa": "the first reference answer", "code": "the canonical solution"}


def gold(ex: dict, kind: str) -> tuple[str, str] | None:
    """(context, continuation) of the example's gold text (GOLD[kind]); None when it has none."""
    if kind == "mc":
        contexts = ex["contexts"] or [ex["inputs"]] * len(ex["choices"])
        return contexts[ex["label"]], ex["choices"][ex["label"]]
    if kind == "qa":
        return (ex["inputs"], " " + ex["answers"][0].strip()) if ex["answers"] else None
    reference = json.loads(ex["meta"]).get("reference")
    return (ex["inputs"], reference) if reference else None


def task_name(name: str, source: str = "offline") -> str:
    """The SeqIO task of benchmark `name` (tasks/evaluation.py registers both sources)."""
    return f"eval_{name}" if source == "offline" else f"eval_{name}_tfds"
