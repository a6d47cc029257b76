"""HumanEval / MBPP: a completion plus the benchmark's tests become one program for the sandbox."""

from __future__ import annotations

import json

from code_in_pretraining.eval import sandbox

# Stop strings for code completion: a new top-level statement ends the function.
HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint", "\n@", '\n"""')
MBPP_STOP = ('\n"""', "\nassert", "\nprint", "\nif __name__", "\n#")


def program(example: dict, completion: str) -> str:
    """The program whose clean exit means the completion passes (prompt + completion + tests)."""
    meta = json.loads(example["meta"]) if isinstance(example["meta"], str) else example["meta"]
    if meta["task"] == "humaneval":
        return f"{example['inputs']}{completion}\n\n{meta['test']}\n\ncheck({meta['entry_point']})\n"
    if meta["task"] == "mbpp":
        tests = "\n".join(meta["tests"])
        # The setup may use what the solution defines (MBPP 367), so it runs after it.
        return f"{example['inputs']}{completion}\n\n{meta.get('setup') or ''}\n{tests}\n"
    raise ValueError(f"unknown code task {meta['task']!r}")


def reference(example: dict) -> str:
    meta = json.loads(example["meta"]) if isinstance(example["meta"], str) else example["meta"]
    return meta["reference"]


def stop_strings(example: dict) -> tuple[str, ...]:
    meta = json.loads(example["meta"]) if isinstance(example["meta"], str) else example["meta"]
    return HUMANEVAL_STOP if meta["task"] == "humaneval" else MBPP_STOP


def run_completions(examples: list[dict], completions: list[list[str]], *, workers: int = 2,
                    timeout_s: float = 10.0, memory_mb: int = 1024) -> list[list[sandbox.SandboxResult]]:
    """Sandbox results per example, one per completion."""
    flat = [program(ex, c) for ex, cs in zip(examples, completions, strict=True) for c in cs]
    results = sandbox.run_programs(flat, workers=workers, timeout_s=timeout_s, memory_mb=memory_mb)
    out, i = [], 0
    for cs in completions:
        out.append(results[i:i + len(cs)])
        i += len(cs)
    return out
