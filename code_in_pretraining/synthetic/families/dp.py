"""Dynamic programming: coin change, subsequences, subarrays, edit distance, non-adjacent picks."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import LOWER, ints, make, pick, word

FAMILY = "dp"


def min_coins(rng: random.Random):
    coins = sorted(rng.sample(range(2, 13), rng.randint(2, 4)))
    name = pick(rng, ["min_coins", "fewest_coins", "change_count"])
    statement = (f"Coins come in the denominations {coins}, with unlimited supply. Return the fewest coins whose "
                 f"values add up to amount, or -1 if it cannot be done.")
    body = (f"inf = float('inf')\nbest = [0] + [inf] * amount\nfor a in range(1, amount + 1):\n    for c in {coins}:\n"
            f"        if c <= a and best[a - c] + 1 < best[a]:\n            best[a] = best[a - c] + 1\n"
            f"return -1 if best[amount] == inf else best[amount]")
    spec = (f"def spec(amount):\n    frontier, seen, steps = {{0}}, {{0}}, 0\n    while frontier:\n"
            f"        if amount in frontier:\n            return steps\n"
            f"        frontier = {{s + c for s in frontier for c in {coins} if s + c <= amount}} - seen\n"
            f"        seen |= frontier\n        steps += 1\n    return -1\n")
    return make(FAMILY, "min_coins", rng, name=name, params=[("amount", "int")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (r.randint(0, 60),),
                edge=[(0,), (1,), (coins[0],), (coins[-1] + 1,)])


def longest_subsequence(rng: random.Random):
    rel, phrase = pick(rng, [("<", "strictly increasing"), ("<=", "non-decreasing"), (">", "strictly decreasing")])
    name = pick(rng, ["longest_run_subsequence", "lis_length", "longest_chain"])
    statement = f"Return the length of the longest {phrase} subsequence of xs (not necessarily contiguous)."
    body = (f"best = [1] * len(xs)\nfor j in range(len(xs)):\n    for i in range(j):\n        if xs[i] {rel} xs[j]:\n"
            f"            best[j] = max(best[j], best[i] + 1)\nreturn max(best, default=0)")
    spec = (f"import itertools\n\ndef spec(xs):\n    for k in range(len(xs), 0, -1):\n"
            f"        for c in itertools.combinations(xs, k):\n"
            f"            if all(a {rel} b for a, b in zip(c, c[1:])):\n                return k\n    return 0\n")
    return make(FAMILY, "longest_subsequence", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, 0, 9, 0, 9),),
                edge=[([],), ([3, 3, 3],), ([1, 2, 3],), ([3, 2, 1],)])


def best_subarray(rng: random.Random):
    allow_empty = rng.random() < 0.5
    name = pick(rng, ["max_subarray", "best_segment", "largest_block_sum"])
    statement = ("Return the largest sum of a contiguous block of xs" +
                 ("; the empty block counts, with sum 0." if allow_empty else
                  " with at least one element; xs is not empty."))
    init = "best = 0\ncur = 0" if allow_empty else "best = xs[0]\ncur = 0"
    body = (f"{init}\nfor x in xs:\n    cur = max(x, cur + x)\n    best = max(best, cur)\nreturn best")
    first = "i" if allow_empty else "i + 1"
    spec = (f"def spec(xs):\n    return max(sum(xs[i:j]) for i in range(len(xs) + 1)"
            f" for j in range({first}, len(xs) + 1))\n")
    n_lo = 0 if allow_empty else 1
    return make(FAMILY, "best_subarray", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -9, 9, n_lo, 10),),
                edge=[([-3, -1, -2],), ([2, -1, 2],), ([5],)] + ([([],)] if allow_empty else []))


def edit_distance(rng: random.Random):
    ins, dele, sub = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 4)
    name = pick(rng, ["edit_cost", "transform_cost", "weighted_distance"])
    statement = (f"Turning a into b, inserting a character costs {ins}, deleting one costs {dele} and replacing one "
                 f"by another costs {sub}. Return the least total cost.")
    body = (f"n, m = len(a), len(b)\nd = [[0] * (m + 1) for _ in range(n + 1)]\nfor i in range(1, n + 1):\n"
            f"    d[i][0] = i * {dele}\nfor j in range(1, m + 1):\n    d[0][j] = j * {ins}\nfor i in range(1, n + 1):\n"
            f"    for j in range(1, m + 1):\n        same = d[i - 1][j - 1] + (0 if a[i - 1] == b[j - 1] else {sub})\n"
            f"        d[i][j] = min(same, d[i - 1][j] + {dele}, d[i][j - 1] + {ins})\nreturn d[n][m]")
    spec = (f"import functools\n\ndef spec(a, b):\n    @functools.lru_cache(maxsize=None)\n    def go(s, t):\n"
            f"        if not s:\n            return len(t) * {ins}\n        if not t:\n            return len(s) * {dele}\n"
            f"        if s[0] == t[0]:\n            return go(s[1:], t[1:])\n"
            f"        return min(go(s[1:], t) + {dele}, go(s, t[1:]) + {ins}, go(s[1:], t[1:]) + {sub})\n"
            f"    return go(a, b)\n")
    alphabet = LOWER[:3]
    return make(FAMILY, "edit_distance", rng, name=name, params=[("a", "str"), ("b", "str")], returns="int",
                statement=statement, body=body, spec=spec,
                gen=lambda r: (word(r, alphabet, 0, 6), word(r, alphabet, 0, 6)),
                edge=[("", ""), ("abc", ""), ("", "ab"), ("ab", "ba"), ("a", "b")])


def spaced_pick(rng: random.Random):
    gap = rng.randint(1, 3)
    name = pick(rng, ["best_pick", "spaced_sum", "rob_houses"])
    statement = (f"Choose elements of xs so that any two chosen indices differ by more than {gap}. Return the largest "
                 f"possible sum of the chosen elements (choosing nothing gives 0).")
    body = (f"best = [0] * (len(xs) + 1)\nfor i in range(1, len(xs) + 1):\n"
            f"    take = xs[i - 1] + best[max(0, i - 1 - {gap})]\n    best[i] = max(best[i - 1], take)\nreturn best[-1]")
    spec = (f"import itertools\n\ndef spec(xs):\n    top = 0\n    for mask in itertools.product((0, 1), repeat=len(xs)):\n"
            f"        idx = [i for i, m in enumerate(mask) if m]\n"
            f"        if all(j - i > {gap} for i, j in zip(idx, idx[1:])):\n"
            f"            top = max(top, sum(xs[i] for i in idx))\n    return top\n")
    return make(FAMILY, "spaced_pick", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -3, 9, 0, 9),),
                edge=[([],), ([-1, -2],), ([5, 1, 1, 5],), ([1] * (gap + 2),)])



def coin_ways(rng: random.Random):
    coins = sorted(rng.sample(range(1, 13), rng.randint(2, 4)))
    m = pick(rng, [None, 1000, 997, 10 ** 9 + 7])
    name = pick(rng, ["count_change", "coin_combinations", "ways_to_pay"])
    mod = "" if m is None else f" modulo {m}"
    statement = (f"Coins come in the denominations {coins}, with unlimited supply. Return the number of different "
                 f"multisets of coins that add up to amount (the order of coins does not matter){mod}.")
    red = "" if m is None else f" % {m}"
    body = (f"ways = [1] + [0] * amount\nfor c in {coins}:\n    for a in range(c, amount + 1):\n"
            f"        ways[a] = (ways[a] + ways[a - c]){red}\nreturn ways[amount]")
    spec = (f"import functools\n\ndef spec(amount):\n    coins = {coins}\n    @functools.lru_cache(maxsize=None)\n"
            f"    def go(rest, i):\n        if rest == 0:\n            return 1\n        if i == len(coins) or rest < 0:\n"
            f"            return 0\n        return go(rest - coins[i], i) + go(rest, i + 1)\n    return go(amount, 0){red}\n")
    return make(FAMILY, "coin_ways", rng, name=name, params=[("amount", "int")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (r.randint(0, 80),),
                edge=[(0,), (1,), (coins[0],), (coins[-1],), (coins[0] + coins[-1],)])


TEMPLATES = [min_coins, longest_subsequence, best_subarray, edit_distance, spaced_pick, coin_ways]
