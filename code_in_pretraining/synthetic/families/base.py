"""Shared pieces of the family generators: random inputs, names and Problem assembly.

A template is a function `rng -> Problem`. It picks its constants, names and
phrasing from `rng`, writes the reference body and an independent `spec`, and
gives an input generator; `make` draws the test and probe inputs from it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence

from code_in_pretraining.synthetic.problem import Problem

LOWER = string.ascii_lowercase
N_TESTS = 8
N_PROBES = 60


def word(rng: random.Random, alphabet: str = LOWER, lo: int = 0, hi: int = 10) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def ints(rng: random.Random, lo: int = -20, hi: int = 20, n_lo: int = 0, n_hi: int = 10) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(n_lo, n_hi))]


def letters(rng: random.Random, k_lo: int, k_hi: int, alphabet: str = LOWER) -> str:
    """A sorted random set of letters, as a string constant."""
    return "".join(sorted(rng.sample(alphabet, rng.randint(k_lo, k_hi))))


def minus(var: str, c: int) -> str:
    """`var - c` written the way a person would: "x - 3", "x + 3", "x"."""
    return var if c == 0 else f"{var} - {c}" if c > 0 else f"{var} + {-c}"


def times(c: int, expr: str) -> str:
    """`c * expr` without a unit coefficient."""
    return expr if c == 1 else f"{c} * {expr}"


def pick(rng: random.Random, options: Sequence):
    return options[rng.randrange(len(options))]


def signature(name: str, params: Sequence[tuple[str, str]], returns: str) -> str:
    return f"def {name}({', '.join(f'{p}: {t}' for p, t in params)}) -> {returns}:"


def make(family: str, template: str, rng: random.Random, *, name: str, params: Sequence[tuple[str, str]],
         returns: str, statement: str, body: str, spec: str, gen: Callable[[random.Random], tuple],
         edge: Sequence[tuple] = (), imports: str = "", n_tests: int = N_TESTS, n_probes: int = N_PROBES,
         gen_tests: Callable[[random.Random], tuple] | None = None) -> Problem:
    """Assembles a Problem; tests: two random inputs (the docstring examples), the edge cases, more random ones
    (from `gen_tests` where the tests need larger inputs than the probes)."""
    tests, seen = [], set()
    drawn = [(gen_tests or gen)(rng) for _ in range(4 * n_tests)]
    for args in drawn[:2] + list(edge) + drawn[2:]:
        if repr(args) not in seen and len(tests) < max(n_tests, len(edge) + 2):
            seen.add(repr(args))
            tests.append(tuple(args))
    probes = tuple(tuple(gen(rng)) for _ in range(n_probes))
    return Problem(family=family, template=template, entry=name, signature=signature(name, params, returns),
                   statement=statement, body=body, spec=spec, tests=tuple(tests), probes=probes,
                   imports=imports)
