"""Dictionary problems: frequencies, grouping, inversion, merging, arg-max with tie-breaks."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import LOWER, ints, letters, make, pick, word

FAMILY = "dicts"


def _sentence(r: random.Random, alphabet: str) -> str:
    return " ".join(word(r, alphabet, 1, 5) for _ in range(r.randint(0, 8)))


def word_freq(rng: random.Random):
    k = rng.randint(1, 4)
    name = pick(rng, ["word_counts", "frequencies", "count_words"])
    statement = (f"Split text on whitespace and return a dict mapping each word with at least {k} letters to the "
                 f"number of times it occurs.")
    body = pick(rng, [f"counts = {{}}\nfor w in text.split():\n    if len(w) >= {k}:\n        counts[w] = counts.get(w, 0) + 1\nreturn counts",
                      f"return dict(collections.Counter(w for w in text.split() if len(w) >= {k}))"])
    imports = "import collections" if "collections" in body else ""
    spec = f"def spec(text):\n    ws = text.split()\n    return {{w: ws.count(w) for w in ws if len(w) > {k - 1}}}\n"
    alphabet = letters(rng, 2, 3)
    return make(FAMILY, "word_freq", rng, name=name, params=[("text", "str")], returns="dict[str, int]",
                statement=statement, body=body, spec=spec, imports=imports,
                gen=lambda r: (_sentence(r, alphabet),), edge=[("",), (" ".join([alphabet[0] * k] * 2),)])


def group_mod(rng: random.Random):
    m = rng.randint(2, 6)
    key, phrase = pick(rng, [(f"x % {m}", f"its remainder modulo {m}"), (f"x // {m}", f"x // {m}"),
                             ("len(str(abs(x)))", "its number of decimal digits")])
    name = pick(rng, ["group_by_key", "bucket", "partition_values"])
    statement = (f"Group the integers of xs by {phrase}: return a dict from each key to the list of elements "
                 f"with that key, in their original order.")
    body = f"groups = {{}}\nfor x in xs:\n    groups.setdefault({key}, []).append(x)\nreturn groups"
    spec = (f"def spec(xs):\n    keys = []\n    for x in xs:\n        if ({key}) not in keys:\n            keys.append({key})\n"
            f"    return {{k: [x for x in xs if ({key}) == k] for k in keys}}\n")
    return make(FAMILY, "group_mod", rng, name=name, params=[("xs", "list[int]")], returns="dict[int, list[int]]",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -30, 300, 0, 8),),
                edge=[([],), ([m, 2 * m, m + 1, 10 * m],)])


def invert(rng: random.Random):
    sort = rng.random() < 0.5
    name = pick(rng, ["invert", "reverse_mapping", "keys_by_value"])
    order = "sorted in increasing order" if sort else "in the order they appear in d"
    statement = f"Invert the dict d: return a dict mapping each value of d to the list of its keys, {order}."
    body = "out = {}\nfor k, v in d.items():\n    out.setdefault(v, []).append(k)\n"
    body += "for v in out:\n    out[v].sort()\nreturn out" if sort else "return out"
    fin = "sorted(ks)" if sort else "ks"
    spec = ("def spec(d):\n    result = {}\n    for v in dict.fromkeys(d.values()):\n"
            f"        ks = [k for k in d if d[k] == v]\n        result[v] = {fin}\n    return result\n")

    def gen(r):
        return ({word(r, LOWER[:6], 1, 2): r.randint(0, 3) for _ in range(r.randint(0, 6))},)
    return make(FAMILY, "invert", rng, name=name, params=[("d", "dict[str, int]")], returns="dict[int, list[str]]",
                statement=statement, body=body, spec=spec, gen=gen, edge=[({},), ({"b": 1, "a": 1, "c": 2},)])


def merge_totals(rng: random.Random):
    t = rng.randint(1, 8)
    name = pick(rng, ["merge_counts", "combine_totals", "merged_above"])
    statement = (f"Add the two dicts a and b key by key (a missing key counts as 0) and return the keys whose total "
                 f"is at least {t}, sorted.")
    body = pick(rng, [f"total = dict(a)\nfor k, v in b.items():\n    total[k] = total.get(k, 0) + v\n"
                      f"return sorted(k for k, v in total.items() if v >= {t})",
                      f"keys = set(a) | set(b)\nreturn sorted(k for k in keys if a.get(k, 0) + b.get(k, 0) >= {t})"])
    spec = (f"def spec(a, b):\n    out = []\n    for k in sorted(list(a) + list(b)):\n"
            f"        if k not in out and (a[k] if k in a else 0) + (b[k] if k in b else 0) > {t - 1}:\n"
            f"            out.append(k)\n    return out\n")

    def gen(r):
        return tuple({r.choice(LOWER[:6]): r.randint(-2, t + 2) for _ in range(r.randint(0, 5))} for _ in range(2))
    return make(FAMILY, "merge_totals", rng, name=name, params=[("a", "dict[str, int]"), ("b", "dict[str, int]")],
                returns="list[str]", statement=statement, body=body, spec=spec, gen=gen,
                edge=[({}, {}), ({"x": t}, {}), ({"x": t - 1}, {"x": 1, "y": t - 1})])


def argmax_key(rng: random.Random):
    low = rng.random() < 0.5
    best = "smallest" if low else "largest"
    tie = pick(rng, ["alphabetically first", "alphabetically last"])
    name = pick(rng, ["best_key", "top_scorer", "pick_key"])
    statement = (f"Return the key of scores with the {best} value, breaking ties by taking the key that is "
                 f"{tie}; return None for an empty dict.")
    sign = "" if low else "-"
    tsign = "" if tie.endswith("first") else "-"
    if tsign:
        body = (f"best = None\nfor k, v in scores.items():\n"
                f"    if best is None or {sign}v < {sign}scores[best] or (v == scores[best] and k > best):\n"
                f"        best = k\nreturn best")
    else:
        body = f"if not scores:\n    return None\nreturn min(scores, key=lambda k: ({sign}scores[k], k))"
    rev = "True" if tsign else "False"
    spec = (f"def spec(scores):\n    if not scores:\n        return None\n    target = {'min' if low else 'max'}(scores.values())\n"
            f"    return sorted([k for k in scores if scores[k] == target], reverse={rev})[0]\n")

    def gen(r):
        return ({word(r, LOWER[:5], 1, 2): r.randint(0, 4) for _ in range(r.randint(0, 6))},)
    return make(FAMILY, "argmax_key", rng, name=name, params=[("scores", "dict[str, int]")], returns="str | None",
                statement=statement, body=body, spec=spec, gen=gen, edge=[({},), ({"b": 2, "a": 2, "c": 1},)])



def letter_counts(rng: random.Random):
    chars = letters(rng, 2, 6)
    keep_zero = rng.random() < 0.4
    name = pick(rng, ["letter_histogram", "count_letters", "tally"])
    statement = (f"Return a dict mapping each letter of {chars!r} to the number of times it occurs in s"
                 + (" (letters that do not occur map to 0)." if keep_zero else "; letters that do not occur are left out."))
    if keep_zero:
        body = f"counts = {{c: 0 for c in {chars!r}}}\nfor ch in s:\n    if ch in counts:\n        counts[ch] += 1\nreturn counts"
        spec = f"def spec(s):\n    return {{c: s.count(c) for c in {chars!r}}}\n"
    else:
        body = f"counts = {{}}\nfor ch in s:\n    if ch in {chars!r}:\n        counts[ch] = counts.get(ch, 0) + 1\nreturn counts"
        spec = f"def spec(s):\n    return {{c: s.count(c) for c in {chars!r} if c in s}}\n"
    alphabet = chars + letters(rng, 1, 4)
    return make(FAMILY, "letter_counts", rng, name=name, params=[("s", "str")], returns="dict[str, int]",
                statement=statement, body=body, spec=spec, gen=lambda r: (word(r, alphabet, 0, 12),),
                edge=[("",), (chars,), (chars[0] * 3,)])


def tally_pairs(rng: random.Random):
    agg, phrase = pick(rng, [("sum", "the sum of its points"), ("max", "its largest points value"),
                             ("count", "how many pairs it appears in")])
    t = rng.randint(*{"sum": (-3, 12), "max": (-2, 8), "count": (1, 3)}[agg])  # thresholds that some inputs reach
    name = pick(rng, ["tally_scores", "totals_by_name", "score_table"])
    statement = (f"pairs is a list of (name, points) tuples. Return a dict from each name to {phrase}, keeping only "
                 f"names whose value is at least {t}.")
    update = {"sum": "out[name] = out.get(name, 0) + pts",
              "max": "out[name] = max(out[name], pts) if name in out else pts",
              "count": "out[name] = out.get(name, 0) + 1"}[agg]
    body = f"out = {{}}\nfor name, pts in pairs:\n    {update}\nreturn {{k: v for k, v in out.items() if v >= {t}}}"
    value = {"sum": "sum(p for n, p in pairs if n == k)", "max": "max(p for n, p in pairs if n == k)",
             "count": "[n for n, _ in pairs].count(k)"}[agg]
    spec = (f"def spec(pairs):\n    names = list(dict.fromkeys(n for n, _ in pairs))\n"
            f"    values = {{k: {value} for k in names}}\n    return {{k: v for k, v in values.items() if v > {t - 1}}}\n")

    def gen(r):
        return ([(r.choice(["ann", "bob", "cy", "dee"]), r.randint(-2, 9)) for _ in range(r.randint(0, 7))],)
    return make(FAMILY, "tally_pairs", rng, name=name, params=[("pairs", "list[tuple[str, int]]")],
                returns="dict[str, int]", statement=statement, body=body, spec=spec, gen=gen,
                edge=[([],), ([("ann", t)],), ([("ann", t - 1)],), ([("bob", t), ("bob", 1)],)])


TEMPLATES = [word_freq, group_mod, invert, merge_totals, argmax_key, letter_counts, tally_pairs]
