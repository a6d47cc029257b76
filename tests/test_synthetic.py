"""Synthetic problems, the parts that execute nothing: families, rendering, dedup, mutants, streams."""

from __future__ import annotations

import ast
import builtins
import random

import pytest

from code_in_pretraining.synthetic import dedup, families, mutants, render, streams

PER_FAMILY = 40


@pytest.mark.parametrize("family", sorted(families.FAMILIES))
def test_family_makes_valid_distinct_problems(family):
    keys = set()
    for j in range(PER_FAMILY):
        p = streams.candidate(0, family, j)
        assert p.family == family and p.statement.strip() and p.tests and len(p.probes) >= 20
        fn = ast.parse(p.function_source()).body[0]
        assert isinstance(fn, ast.FunctionDef) and fn.name == p.entry
        assert len(fn.args.args) == len(p.tests[0]) and all(len(t) == len(p.tests[0]) for t in p.tests + p.probes)
        spec = ast.parse(p.spec)
        assert any(isinstance(n, ast.FunctionDef) and n.name == "spec" for n in spec.body)
        assert dedup.normalise(p.spec) != dedup.normalise(p.function_source())  # written differently
        keys.add(dedup.key(streams.dedup_source(p)))
    assert len(keys) >= PER_FAMILY // 2, f"{family}: only {len(keys)} distinct of {PER_FAMILY}"


def test_at_least_ten_families_each_with_several_templates():
    assert len(families.FAMILIES) >= 10
    assert all(len(t) >= 4 for t in families.FAMILIES.values())


def test_candidates_are_a_function_of_seed_family_index():
    a = streams.candidate(7, "dp", 3)
    assert a == streams.candidate(7, "dp", 3)
    assert a != streams.candidate(8, "dp", 3)


class _Rename(ast.NodeTransformer):
    def visit_Name(self, node):
        node.id = node.id if node.id in dir(builtins) or node.id in ("math", "functools") else node.id + "_x"
        return node

    def visit_arg(self, node):
        node.arg += "_x"
        return node

    def visit_FunctionDef(self, node):
        node.name += "_renamed"
        node.body.insert(0, ast.Expr(ast.Constant("A different docstring.")))
        self.generic_visit(node)
        return node


def test_dedup_catches_renamed_duplicates_but_not_changed_constants():
    p = streams.candidate(0, "strings", 1)
    source = streams.dedup_source(p)
    renamed = ast.unparse(_Rename().visit(ast.parse(source)))
    assert renamed != source
    d = dedup.Deduper()
    assert not d.seen(source)
    assert d.seen(renamed)
    changed = source.replace("0", "3", 1) if "0" in source else source + "\nx = 1\n"
    assert dedup.key(changed) != dedup.key(source)


def test_dedup_ignores_docstrings_and_keeps_builtins():
    a = "def f(xs):\n    '''Sum.'''\n    return sum(xs)\n"
    b = "def g(values):\n    return sum(values)\n"
    c = "def g(values):\n    return max(values)\n"
    assert dedup.key(a) == dedup.key(b) != dedup.key(c)


def test_mutants_are_single_site_compilable_and_distinct():
    src = ("def f(xs: list[int], k: int) -> int:\n    total = 0\n    for x in xs:\n"
           "        if x % 3 == 1 and not x > k:\n            total += x\n    return max(total, 0)\n")
    ms = mutants.mutants(src)
    ops = {m.operator for m in ms}
    assert {"compare", "constant", "arith", "augassign", "boolop", "negate", "not", "return", "builtin",
            "delete"} <= ops
    texts = [m.source for m in ms]
    assert len(set(texts)) == len(texts) and ast.unparse(ast.parse(src)) not in texts
    for t in texts:
        compile(t, "<mutant>", "exec")
    n, sampled = mutants.sample(src, 5, random.Random(0))
    assert n >= len(ms) and len(sampled) <= 5
    assert sampled == mutants.sample(src, 5, random.Random(0))[1]


def test_render_is_humaneval_style():
    p = streams.candidate(0, "lists", 0)
    expected = [repr(i) for i in range(len(p.tests))]  # stand-ins: rendering only
    prompt = render.prompt(p, expected)
    assert prompt.lstrip().startswith(p.imports.strip() or p.signature)
    assert p.signature in prompt and '"""' in prompt and f">>> {p.entry}(" in prompt
    tests = render.tests(p, expected)
    assert tests.count("assert ") == len(p.tests)
    text = render.text(prompt, render.solution(p), tests)
    tree = ast.parse(text)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    assert ast.get_docstring(fn) and fn.name == p.entry
