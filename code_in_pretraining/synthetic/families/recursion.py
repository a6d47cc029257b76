"""Recursive problems: nested lists, staircase counts, constrained binary strings, digital roots."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import make, pick, times


def _nested(r: random.Random, depth: int = 3):
    out = []
    for _ in range(r.randint(0, 4)):
        if depth > 0 and r.random() < 0.35:
            out.append(_nested(r, depth - 1))
        else:
            out.append(r.randint(-9, 9))
    return out


FAMILY = "recursion"


def nested_reduce(rng: random.Random):
    what = pick(rng, ["sum", "flatten", "depth", "count"])
    name = pick(rng, {"sum": ["nested_sum", "deep_total"], "flatten": ["flatten", "unnest"],
                      "depth": ["nesting_depth", "max_depth"], "count": ["count_leaves", "deep_len"]}[what])
    returns = "list[int]" if what == "flatten" else "int"
    if what == "sum":
        k = rng.randint(1, 3)
        statement = (f"items is a list whose elements are integers or lists of the same kind. Return the sum of every "
                     f"integer in it multiplied by {k} raised to its nesting level (the top level is level 0).")
        body = (f"total = 0\nfor x in items:\n    if isinstance(x, list):\n        total += {k} * {name}(x)\n"
                f"    else:\n        total += x\nreturn total")
        spec = (f"def spec(items):\n    total, stack = 0, [(items, 0)]\n    while stack:\n        xs, d = stack.pop()\n"
                f"        for x in xs:\n            if type(x) is list:\n                stack.append((x, d + 1))\n"
                f"            else:\n                total += x * {k} ** d\n    return total\n")
    elif what == "flatten":
        statement = ("items is a list whose elements are integers or lists of the same kind. Return all the integers "
                     "in left-to-right order as one flat list.")
        body = (f"out = []\nfor x in items:\n    if isinstance(x, list):\n        out.extend({name}(x))\n"
                f"    else:\n        out.append(x)\nreturn out")
        spec = ("def spec(items):\n    s = repr(items).replace('[', ' ').replace(']', ' ').replace(',', ' ')\n"
                "    return [int(t) for t in s.split()]\n")
    elif what == "depth":
        statement = ("items is a list whose elements are integers or lists of the same kind. Return its nesting "
                     "depth: 1 for a list without inner lists, one more for each level of lists inside.")
        body = f"return 1 + max([{name}(x) for x in items if isinstance(x, list)], default=0)"
        spec = ("def spec(items):\n    best = depth = 0\n    for ch in repr(items):\n        if ch == '[':\n"
                "            depth += 1\n            best = max(best, depth)\n        elif ch == ']':\n"
                "            depth -= 1\n    return best\n")
    else:
        statement = ("items is a list whose elements are integers or lists of the same kind. Return how many "
                     "integers it contains at any depth.")
        body = f"return sum({name}(x) if isinstance(x, list) else 1 for x in items)"
        spec = ("def spec(items):\n    n, todo = 0, list(items)\n    while todo:\n        x = todo.pop()\n"
                "        if type(x) is list:\n            todo.extend(x)\n        else:\n            n += 1\n    return n\n")
    return make(FAMILY, "nested_reduce", rng, name=name, params=[("items", "list")], returns=returns,
                statement=statement, body=body, spec=spec, gen=lambda r: (_nested(r),),
                edge=[([],), ([[], [[]]],), ([1, [2, [3, [4]]]],)])


def staircase(rng: random.Random):
    steps = sorted(rng.sample(range(1, 9), rng.randint(2, 3)))
    name = pick(rng, ["count_climbs", "stair_ways", "ways_to_reach"])
    statement = (f"You climb a staircase of n steps, each move going up by one of {steps} steps. Return the "
                 f"number of distinct move sequences that end exactly on step n.")
    body = (f"@functools.lru_cache(maxsize=None)\ndef ways(k):\n    if k == 0:\n        return 1\n"
            f"    return sum(ways(k - s) for s in {tuple(steps)} if s <= k)\nreturn ways(n)")
    spec = (f"def spec(n):\n    table = [1] + [0] * n\n    for k in range(1, n + 1):\n        for s in {steps}:\n"
            f"            if k - s >= 0:\n                table[k] += table[k - s]\n    return table[n]\n")
    return make(FAMILY, "staircase", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, imports="import functools", gen=lambda r: (r.randint(0, 25),),
                edge=[(0,), (1,), (steps[-1],)])


def no_runs(rng: random.Random):
    k = rng.randint(2, 4)
    bit = pick(rng, ["1", "0"])
    name = pick(rng, ["count_strings", "safe_strings", "binary_words"])
    statement = (f"Return the number of binary strings of length n (n >= 0) that never contain {k} consecutive "
                 f"{bit!r} characters.")
    body = (f"def go(remaining, run):\n    if run == {k}:\n        return 0\n    if remaining == 0:\n        return 1\n"
            f"    return go(remaining - 1, run + 1) + go(remaining - 1, 0)\nreturn go(n, 0)")
    spec = (f"import itertools\n\ndef spec(n):\n    return sum(1 for t in itertools.product('01', repeat=n)\n"
            f"               if {bit * k!r} not in ''.join(t))\n")
    return make(FAMILY, "no_runs", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(0, 12),), edge=[(0,), (k - 1,), (k,), (k + 1,)])


def digital_root(rng: random.Random):
    b = rng.randint(3, 36)
    name = pick(rng, ["digital_root", "repeated_digit_sum", "fold_digits"])
    statement = (f"Write the non-negative integer n in base {b} and replace it by the sum of its digits until a "
                 f"single digit remains; return that digit (as an integer).")
    body = (f"if n < {b}:\n    return n\ns = 0\nwhile n:\n    s += n % {b}\n    n //= {b}\nreturn {name}(s)")
    spec = f"def spec(n):\n    return 0 if n == 0 else 1 + (n - 1) % {b - 1}\n"
    return make(FAMILY, "digital_root", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(0, 10 ** r.randint(1, 7)),),
                edge=[(0,), (b - 1,), (b,), (b * b - 1,)])



def recurrence(rng: random.Random):
    a0, a1 = rng.randint(0, 3), rng.randint(1, 4)
    p, q = rng.randint(1, 3), rng.randint(-2, 3)
    q = 1 if (p, q) == (1, 0) else q  # a(k) = a(k - 1) would be constant
    m = rng.randint(10, 1000)
    name = pick(rng, ["sequence_term", "recurrence", "nth_term"])
    qs = f" + {times(q, 'a(k - 2)')}" if q > 0 else (f" - {times(-q, 'a(k - 2)')}" if q < 0 else "")
    statement = (f"The sequence a is defined by a(0) = {a0}, a(1) = {a1} and a(k) = {times(p, 'a(k - 1)')}{qs} for "
                 f"k >= 2. Return a(n) modulo {m} (as a number from 0 to {m - 1}).")
    rec = times(p, "term(k - 1)") + (f" + {times(q, 'term(k - 2)')}" if q > 0 else
                                     f" - {times(-q, 'term(k - 2)')}" if q < 0 else "")
    body = (f"@functools.lru_cache(maxsize=None)\ndef term(k):\n    if k == 0:\n        return {a0}\n    if k == 1:\n"
            f"        return {a1}\n    return ({rec}) % {m}\nreturn term(n) % {m}")
    spec = (f"def spec(n):\n    seq = [{a0}, {a1}]\n    while len(seq) <= n:\n        seq.append({p} * seq[-1] + {q} * seq[-2])\n"
            f"    return seq[n] % {m}\n")
    return make(FAMILY, "recurrence", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, imports="import functools", gen=lambda r: (r.randint(0, 60),),
                edge=[(0,), (1,), (2,), (3,)])


TEMPLATES = [nested_reduce, staircase, no_runs, digital_root, recurrence]
