"""A candidate problem as a family generator emits it, before any execution.

Everything here is data: source text and argument tuples. Expected outputs are
unknown until the specification has run in the sandbox (see verify.py), so the
prompt's examples and the test asserts are rendered afterwards (render.py).
"""

from __future__ import annotations

import dataclasses
import textwrap


@dataclasses.dataclass(frozen=True)
class Problem:
    family: str
    template: str           # which generator of the family made it
    entry: str              # the function's name
    signature: str          # "def name(xs: list[int], k: int) -> int:"
    statement: str          # natural-language task, the docstring's first part
    body: str               # reference solution body (any indentation; normalised to 4 spaces)
    spec: str               # independent implementation: source of `def spec(...)`, written differently
    tests: tuple            # argument tuples for the asserts; the first `n_examples` become docstring examples
    probes: tuple           # argument tuples for the differential check (not shown in the problem)
    imports: str = ""       # import lines placed above the signature (part of the prompt)
    n_examples: int = 2

    def function_source(self) -> str:
        """The reference solution as one function, without a docstring."""
        return f"{self.signature}\n{indent_body(self.body)}"


def indent_body(body: str) -> str:
    return textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def call(entry: str, args: tuple) -> str:
    return f"{entry}({', '.join(repr(a) for a in args)})"
