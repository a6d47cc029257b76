"""Renders a verified problem as HumanEval-style text: prompt, solution, tests.

prompt    import lines, the signature and a docstring (statement + >>> examples)
solution  the body that completes the prompt
tests     one `assert entry(args) == expected` per test input
text      prompt + solution + tests: one pre-training document, and exactly the
          program that verify.py runs to check that the solution passes its tests
"""

from __future__ import annotations

import textwrap

from code_in_pretraining.synthetic.problem import Problem, call, indent_body


def docstring(problem: Problem, expected: list[str]) -> str:
    lines = textwrap.wrap(" ".join(problem.statement.split()), 88)
    examples = []
    for args, want in list(zip(problem.tests, expected))[: problem.n_examples]:
        examples += [f">>> {call(problem.entry, args)}", want]
    if examples:
        lines += [""] + examples
    inner = "\n".join(f"    {ln}" if ln else "" for ln in lines)
    return f'    """{inner.lstrip()}\n    """\n'


def prompt(problem: Problem, expected: list[str]) -> str:
    head = f"{problem.imports.strip()}\n\n\n" if problem.imports.strip() else ""
    return f"{head}{problem.signature}\n{docstring(problem, expected)}"


def solution(problem: Problem) -> str:
    return indent_body(problem.body)


def tests(problem: Problem, expected: list[str]) -> str:
    return "".join(f"assert {call(problem.entry, args)} == {want}\n" for args, want in zip(problem.tests, expected))


def text(prompt_: str, solution_: str, tests_: str) -> str:
    return f"{prompt_}{solution_}\n\n{tests_}"
