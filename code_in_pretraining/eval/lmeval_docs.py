"""Document functions of the offline lm-eval tasks (lmeval_yaml/*.yaml name them with `!function`).

Each gives the prompt pieces of lm-eval's own task of the same benchmark, for the
records as `cip data fetch-evals` stores them. Pure functions of a record; lm-eval
imports this module by name, so it needs nothing but the standard library and the
HellaSwag cleaning that the paper's harness shares (benchmarks.py).
"""

from __future__ import annotations

from code_in_pretraining.eval.benchmarks import hellaswag_clean


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def copa_text(doc: dict) -> str:
    """The premise without its final character (a period), then the connective."""
    connective = {"cause": "because", "effect": "therefore"}[doc["question"]]
    return f"{doc['premise'].strip()[:-1]} {connective}"


def copa_choices(doc: dict) -> list[str]:
    return [" " + _lower_first(doc["choice1"]), " " + _lower_first(doc["choice2"])]


def copa_target(doc: dict) -> str:
    return copa_choices(doc)[int(doc["label"])]


def hellaswag_docs(dataset):
    """Adds `query` ("activity: context") and `choices` (the endings), both cleaned."""

    def one(doc: dict) -> dict:
        context = f"{doc['ctx_a']} {doc['ctx_b'].capitalize()}"
        return {"query": hellaswag_clean(f"{doc['activity_label']}: {context}"),
                "choices": [hellaswag_clean(e) for e in doc["endings"]], "gold": int(doc["label"])}

    return dataset.map(one)


def winogrande_gold(doc: dict) -> int:
    """Partial scoring: the gold option's index stands where the prompt would be."""
    return {"1": 0, "2": 1}[str(doc["answer"])]


def winogrande_contexts(doc: dict) -> list[str]:
    """The sentence up to the blank, with each option in it."""
    blank = doc["sentence"].index("_")
    return [doc["sentence"][:blank] + option for option in (doc["option1"], doc["option2"])]


def winogrande_after_blank(doc: dict) -> str:
    """The text after the blank: the continuation scored in every context."""
    return doc["sentence"][doc["sentence"].index("_") + 1:].strip()
