"""Sorting and searching: custom orders, binary search bounds, k-th elements, inversions, merging."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import ints, make, minus, pick

FAMILY = "searching"


def custom_sort(rng: random.Random):
    a, m = rng.randint(2, 9), rng.randint(3, 11)
    key, phrase = pick(rng, [("sum(int(c) for c in str(abs(x)))", "the sum of its decimal digits"),
                             (f"x % {rng.randint(2, 9)}", None), ("abs(x)", "its absolute value"),
                             (f"abs({minus('x', rng.randint(-9, 9))})", None), (f"x * {a} % {m}", None),
                             (f"({minus('x', rng.randint(-9, 9))}) ** 2 % {m}", None)])
    if phrase is None:
        phrase = f"the value of {key}"
    desc = rng.random() < 0.3
    tie = pick(rng, ["value", "position"])
    name = pick(rng, ["sort_by_rule", "custom_order", "arrange"])
    order = "decreasing" if desc else "increasing"
    tie_text = "smaller value first" if tie == "value" else "keeping their original order"
    statement = f"Return xs sorted by {phrase}, in {order} order; ties are broken by {tie_text}."
    if tie == "value":
        body = f"return sorted(xs, key=lambda x: ({'-' if desc else ''}({key}), x))"
    else:
        body = f"return sorted(xs, key=lambda x: {key}, reverse={desc})"
    cmp_ = ">" if not desc else "<"
    tie_cond = " or (ka == kb and a > b)" if tie == "value" else ""
    spec = (f"def spec(xs):\n    out = list(xs)\n    for i in range(1, len(out)):\n        j = i\n        while j > 0:\n"
            f"            a, b = out[j - 1], out[j]\n            ka = (lambda x: {key})(a)\n"
            f"            kb = (lambda x: {key})(b)\n            if ka {cmp_} kb{tie_cond}:\n"
            f"                out[j - 1], out[j] = b, a\n                j -= 1\n            else:\n                break\n"
            f"    return out\n")
    if desc and tie == "position":
        body = f"return sorted(xs, key=lambda x: -({key}))"
    return make(FAMILY, "custom_sort", rng, name=name, params=[("xs", "list[int]")], returns="list[int]",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -40, 40, 0, 8),),
                edge=[([],), ([3, -3, 12, 21],)])


def lower_bound(rng: random.Random):
    strict = rng.random() < 0.5
    name = pick(rng, ["first_at_least", "search_position", "bound_index"])
    rel = ">" if strict else ">="
    word_ = "greater than" if strict else "at least"
    statement = (f"xs is sorted in non-decreasing order. Return the smallest index i with xs[i] {word_} target, "
                 f"or len(xs) if there is none. Use binary search.")
    cond = "xs[mid] <= target" if strict else "xs[mid] < target"
    body = (f"lo, hi = 0, len(xs)\nwhile lo < hi:\n    mid = (lo + hi) // 2\n    if {cond}:\n        lo = mid + 1\n"
            f"    else:\n        hi = mid\nreturn lo")
    spec = (f"def spec(xs, target):\n    return next((i for i, x in enumerate(xs) if x {rel} target), len(xs))\n")

    def gen(r):
        return (sorted(ints(r, -10, 10, 0, 9)), r.randint(-12, 12))
    return make(FAMILY, "lower_bound", rng, name=name, params=[("xs", "list[int]"), ("target", "int")],
                returns="int", statement=statement, body=body, spec=spec, gen=gen,
                edge=[([], 3), ([1, 2, 2, 2, 3], 2), ([5], 5), ([5], 4), ([5], 6), ([1, 3, 5, 7], 4)])


def kth_distinct(rng: random.Random):
    largest = rng.random() < 0.5
    name = pick(rng, ["kth_value", "kth_distinct", "rank_select"])
    which = "largest" if largest else "smallest"
    statement = (f"Return the k-th {which} distinct value of xs (k starts at 1), or None if xs has fewer than k "
                 f"distinct values.")
    body = (f"vals = sorted(set(xs), reverse={largest})\nreturn vals[k - 1] if 0 < k <= len(vals) else None")
    pick_ = "max" if largest else "min"
    spec = (f"def spec(xs, k):\n    rest = list(xs)\n    v = None\n    for _ in range(k):\n        if not rest:\n"
            f"            return None\n        v = {pick_}(rest)\n        rest = [x for x in rest if x != v]\n    return v\n")
    return make(FAMILY, "kth_distinct", rng, name=name, params=[("xs", "list[int]"), ("k", "int")],
                returns="int | None", statement=statement, body=body, spec=spec,
                gen=lambda r: (ints(r, 0, 9, 0, 8), r.randint(1, 4)),
                edge=[([], 1), ([4, 4, 4], 1), ([4, 4, 4], 2), ([1, 2, 3], 3), ([3, 1, 2, 1], 2)])


def inversions(rng: random.Random):
    strict = rng.random() < 0.7
    name = pick(rng, ["count_inversions", "disorder", "inversion_count"])
    rel = ">" if strict else ">="
    statement = f"Return the number of index pairs i < j with xs[i] {rel} xs[j]."
    if strict:
        body = ("def sort_count(a):\n    if len(a) <= 1:\n        return a, 0\n    mid = len(a) // 2\n"
                "    left, x = sort_count(a[:mid])\n    right, y = sort_count(a[mid:])\n    merged, n = [], x + y\n"
                "    i = j = 0\n    while i < len(left) and j < len(right):\n        if left[i] <= right[j]:\n"
                "            merged.append(left[i])\n            i += 1\n        else:\n            merged.append(right[j])\n"
                "            n += len(left) - i\n            j += 1\n    merged += left[i:] + right[j:]\n"
                "    return merged, n\nreturn sort_count(xs)[1]")
    else:
        body = f"return sum(1 for j in range(len(xs)) for i in range(j) if xs[i] {rel} xs[j])"
    spec = (f"import itertools\n\ndef spec(xs):\n    return len([p for p in itertools.combinations(xs, 2) if p[0] {rel} p[1]])\n")
    return make(FAMILY, "inversions", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, 0, 9, 0, 9),),
                edge=[([],), ([1, 2, 3],), ([3, 2, 1],), ([2, 2],)])


def merge_sorted(rng: random.Random):
    dedupe = rng.random() < 0.4
    name = pick(rng, ["merge", "merge_sorted", "combine_sorted"])
    statement = ("a and b are sorted in non-decreasing order. Return one sorted list of all their elements"
                 + (", keeping each value only once." if dedupe else ", in linear time."))
    add = ("    if not out or out[-1] != v:\n        out.append(v)\n" if dedupe else "    out.append(v)\n")
    body = ("out = []\ni = j = 0\nwhile i < len(a) or j < len(b):\n"
            "    if j == len(b) or (i < len(a) and a[i] <= b[j]):\n        v = a[i]\n        i += 1\n"
            "    else:\n        v = b[j]\n        j += 1\n" + add + "return out")
    spec = ("def spec(a, b):\n    return sorted(set(a + b))\n" if dedupe else
            "def spec(a, b):\n    return sorted(a + b)\n")

    def gen(r):
        return (sorted(ints(r, -5, 9, 0, 6)), sorted(ints(r, -5, 9, 0, 6)))
    return make(FAMILY, "merge_sorted", rng, name=name, params=[("a", "list[int]"), ("b", "list[int]")],
                returns="list[int]", statement=statement, body=body, spec=spec, gen=gen,
                edge=[([], []), ([1], []), ([], [1]), ([1, 1], [1]), ([1, 3], [2, 4])])



def range_count(rng: random.Random):
    lo = rng.randint(-30, 30)
    hi = lo + rng.randint(0, 20)
    name = pick(rng, ["count_in_sorted", "range_size", "sorted_range_count"])
    statement = (f"xs is sorted in non-decreasing order. Using binary search, return how many elements x of xs satisfy "
                 f"{lo} <= x <= {hi}.")
    body = (f"def first(pred):\n    lo, hi = 0, len(xs)\n    while lo < hi:\n        mid = (lo + hi) // 2\n"
            f"        if pred(xs[mid]):\n            hi = mid\n        else:\n            lo = mid + 1\n    return lo\n"
            f"return first(lambda x: x > {hi}) - first(lambda x: x >= {lo})")
    spec = f"def spec(xs):\n    return sum({lo} <= x <= {hi} for x in xs)\n"

    def gen(r):
        return (sorted(ints(r, lo - 4, hi + 4, 0, 10)),)
    return make(FAMILY, "range_count", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=gen,
                edge=[([],), ([lo - 1, lo, hi, hi + 1],), ([lo, lo, lo],), ([hi + 1],), ([lo - 1],)])


TEMPLATES = [custom_sort, lower_bound, kth_distinct, inversions, merge_sorted, range_count]
