"""List problems: filtered sums, rotations, windows, pair counts, de-duplication, prefix scans."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import ints, make, pick

FAMILY = "lists"


def sum_where(rng: random.Random):
    m = rng.randint(2, 7)
    r0 = rng.randrange(m)
    t = rng.randint(-5, 10)
    cond, phrase = pick(rng, [(f"x % {m} == {r0}", f"leave remainder {r0} when divided by {m}"),
                              (f"x > {t}", f"are greater than {t}"),
                              (f"x % {m} != {r0} and x <= {t}", f"do not leave remainder {r0} modulo {m} and are at most {t}")])
    xs = pick(rng, ["xs", "nums", "values"])
    name = pick(rng, ["sum_selected", "filtered_sum", "sum_matching"])
    statement = f"Return the sum of the elements of {xs} that {phrase}."
    body = pick(rng, [f"return sum(x for x in {xs} if {cond})",
                      f"total = 0\nfor x in {xs}:\n    if {cond}:\n        total += x\nreturn total"])
    spec = f"def spec(a):\n    return sum(filter(lambda x: {cond}, a))\n"
    return make(FAMILY, "sum_where", rng, name=name, params=[(xs, "list[int]")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (ints(r, -20, 20, 0, 10),),
                edge=[([],), (list(range(t - 2, t + 3)),), ([m * 3 + r0, r0],)])


def rotate(rng: random.Random):
    left = rng.random() < 0.5
    name = pick(rng, ["rotate", "shift_items", "cycle_list"])
    way = "left" if left else "right"
    statement = (f"Rotate xs by k positions to the {way} (k may exceed the length) and return the new list; "
                 f"an empty list stays empty.")
    cut = "k % len(xs)" if left else "-(k % len(xs))"
    body = f"if not xs:\n    return []\nk = {cut}\nreturn xs[k:] + xs[:k]"
    idx = "(i + k) % n" if left else "(i - k) % n"
    spec = f"def spec(xs, k):\n    n = len(xs)\n    return [xs[{idx}] for i in range(n)]\n"
    return make(FAMILY, "rotate", rng, name=name, params=[("xs", "list[int]"), ("k", "int")], returns="list[int]",
                statement=statement, body=body, spec=spec,
                gen=lambda r: (ints(r, 0, 9, 0, 7), r.randint(0, 12)), edge=[([], 3), ([1, 2, 3], 0), ([1, 2, 3], 4)])


def window_sum(rng: random.Random):
    w = rng.randint(2, 5)
    best, word_ = pick(rng, [("max", "largest"), ("min", "smallest")])
    name = pick(rng, [f"{best}_window", f"{best}_block_sum", f"{best}_run_total"])
    statement = (f"Return the {word_} sum of {w} consecutive elements of xs, or None if xs has fewer than "
                 f"{w} elements.")
    body = (f"if len(xs) < {w}:\n    return None\ncur = sum(xs[:{w}])\nbest = cur\nfor i in range({w}, len(xs)):\n"
            f"    cur += xs[i] - xs[i - {w}]\n    best = {best}(best, cur)\nreturn best")
    spec = (f"def spec(xs):\n    sums = [sum(xs[i:i + {w}]) for i in range(len(xs) - {w} + 1)]\n"
            f"    return {best}(sums) if sums else None\n")
    return make(FAMILY, "window_sum", rng, name=name, params=[("xs", "list[int]")], returns="int | None",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -9, 9, w - 1, 10),),
                edge=[([],), (list(range(w)),), (list(range(w - 1)),)])


def pair_count(rng: random.Random):
    name = pick(rng, ["count_pairs", "pairs_with_sum", "matching_pairs"])
    rel, phrase = pick(rng, [("==", "equals"), ("<", "is less than"), (">", "is greater than")])
    statement = f"Return the number of index pairs i < j such that xs[i] + xs[j] {phrase} target."
    if rel == "==":
        body = ("seen = {}\ncount = 0\nfor x in xs:\n    count += seen.get(target - x, 0)\n"
                "    seen[x] = seen.get(x, 0) + 1\nreturn count")
    else:
        body = (f"count = 0\nfor j in range(len(xs)):\n    for i in range(j):\n        if xs[i] + xs[j] {rel} target:\n"
                f"            count += 1\nreturn count")
    spec = (f"import itertools\n\ndef spec(xs, target):\n"
            f"    return sum(1 for a, b in itertools.combinations(xs, 2) if a + b {rel} target)\n")
    return make(FAMILY, "pair_count", rng, name=name, params=[("xs", "list[int]"), ("target", "int")],
                returns="int", statement=statement, body=body, spec=spec,
                gen=lambda r: (ints(r, -5, 5, 0, 8), r.randint(-4, 4)), edge=[([], 0), ([1, 1, 1], 2), ([2, 3], 5)])


def dedupe_mod(rng: random.Random):
    m = rng.randint(2, 9)
    keep_last = rng.random() < 0.3
    name = pick(rng, ["unique_by_residue", "dedupe_mod", "first_of_each_class"])
    which = "last" if keep_last else "first"
    statement = (f"Keep only the {which} element of xs for each remainder modulo {m} and return the kept "
                 f"elements in their original order.")
    if keep_last:
        body = (f"last = {{}}\nfor i, x in enumerate(xs):\n    last[x % {m}] = i\n"
                f"return [x for i, x in enumerate(xs) if last[x % {m}] == i]")
        spec = (f"def spec(xs):\n    out = []\n    for i, x in enumerate(xs):\n"
                f"        if all(y % {m} != x % {m} for y in xs[i + 1:]):\n            out.append(x)\n    return out\n")
    else:
        body = f"seen = set()\nout = []\nfor x in xs:\n    if x % {m} not in seen:\n        seen.add(x % {m})\n        out.append(x)\nreturn out"
        spec = (f"def spec(xs):\n    return [x for i, x in enumerate(xs) if all((y - x) % {m} for y in xs[:i])]\n")
    return make(FAMILY, "dedupe_mod", rng, name=name, params=[("xs", "list[int]")], returns="list[int]",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -15, 30, 0, 10),),
                edge=[([],), ([m, 2 * m, 1],)])


def prefix_scan(rng: random.Random):
    op, phrase = pick(rng, [("max", "largest element"), ("min", "smallest element"), ("+", "sum"), ("*", "product")])
    name = pick(rng, ["prefix_scan", "running_values", "cumulative"])
    statement = f"Return a list whose i-th element is the {phrase} of xs[0], ..., xs[i]."
    if op in ("max", "min"):
        step = f"acc = x if i == 0 else {op}(acc, x)"
        sspec = f"{op}(xs[:i + 1])"
    else:
        step = f"acc = x if i == 0 else acc {op} x"
        sspec = "sum(xs[:i + 1])" if op == "+" else "math.prod(xs[:i + 1])"
    body = f"out = []\nacc = 0\nfor i, x in enumerate(xs):\n    {step}\n    out.append(acc)\nreturn out"
    spec = f"import math\n\ndef spec(xs):\n    return [{sspec} for i in range(len(xs))]\n"
    return make(FAMILY, "prefix_scan", rng, name=name, params=[("xs", "list[int]")], returns="list[int]",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -6, 6, 0, 8),),
                edge=[([],), ([5],)])



def count_range(rng: random.Random):
    lo = rng.randint(-15, 10)
    hi = lo + rng.randint(0, 15)
    lo_op, lo_word = pick(rng, [("<=", "at least"), ("<", "greater than")])
    hi_op, hi_word = pick(rng, [("<=", "at most"), ("<", "less than")])
    name = pick(rng, ["count_between", "in_range_count", "count_window"])
    statement = f"Return how many elements of xs are {lo_word} {lo} and {hi_word} {hi}."
    body = pick(rng, [f"return sum(1 for x in xs if {lo} {lo_op} x {hi_op} {hi})",
                      f"n = 0\nfor x in xs:\n    if x {hi_op} {hi} and {lo} {lo_op} x:\n        n += 1\nreturn n"])
    lo_first = lo if lo_op == "<=" else lo + 1
    hi_last = hi if hi_op == "<=" else hi - 1
    spec = f"def spec(xs):\n    allowed = set(range({lo_first}, {hi_last} + 1))\n    return len([x for x in xs if x in allowed])\n"
    return make(FAMILY, "count_range", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, lo - 5, hi + 5, 0, 10),),
                edge=[([],), ([lo - 1, lo, lo + 1, hi - 1, hi, hi + 1],), ([lo, hi],)])


TEMPLATES = [sum_where, rotate, window_sum, pair_count, dedupe_mod, prefix_scan, count_range]
