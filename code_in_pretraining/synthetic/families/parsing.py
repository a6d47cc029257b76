"""Parsing problems: arithmetic expressions, key-value strings, brackets, Roman numerals, clock times."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import make, pick

FAMILY = "parsing"


def sum_expression(rng: random.Random):
    m = rng.randint(7, 1000)
    name = pick(rng, ["evaluate", "compute", "eval_sum"])
    statement = ("expr is a non-empty string of non-negative integers joined by '+' and '-' signs, without spaces "
                 f"(for example '12-3+4'). Return its value modulo {m}, as a number from 0 to {m - 1}.")
    body = ("total, num, sign = 0, 0, 1\nfor ch in expr:\n    if ch.isdigit():\n        num = num * 10 + int(ch)\n"
            "    else:\n        total += sign * num\n        num = 0\n        sign = 1 if ch == '+' else -1\n"
            f"return (total + sign * num) % {m}")
    spec = (f"import re\n\ndef spec(expr):\n    return sum(int(t) for t in re.findall(r'[+-]?\\d+', expr)) % {m}\n")

    def gen(r):
        out = str(r.randint(0, 120))
        for _ in range(r.randint(0, 4)):
            out += r.choice("+-") + str(r.randint(0, 120))
        return (out,)
    return make(FAMILY, "sum_expression", rng, name=name, params=[("expr", "str")], returns="int",
                statement=statement, body=body, spec=spec, gen=gen, edge=[("0",), ("7",), ("10-10",), ("5-3-2",)])


def key_values(rng: random.Random):
    sep, eq = pick(rng, [(";", "="), (",", ":"), ("&", "="), ("|", "->")])
    name = pick(rng, ["parse_pairs", "parse_settings", "tally_fields"])
    statement = (f"s holds entries 'key{eq}value' separated by {sep!r}, where value is an integer (possibly "
                 f"negative). Return a dict from each key to the sum of its values; an empty string gives {{}}.")
    body = (f"out = {{}}\nif not s:\n    return out\nfor item in s.split({sep!r}):\n"
            f"    key, value = item.split({eq!r})\n    out[key] = out.get(key, 0) + int(value)\nreturn out")
    spec = (f"def spec(s):\n    out = {{}}\n    rest = s\n    while rest:\n        item, _, rest = rest.partition({sep!r})\n"
            f"        k, _, v = item.partition({eq!r})\n        out[k] = (out[k] if k in out else 0) + int(v)\n"
            f"    return out\n")

    def gen(r):
        items = [f"{r.choice('abcxyz')}{eq}{r.randint(-9, 30)}" for _ in range(r.randint(0, 5))]
        return (sep.join(items),)
    return make(FAMILY, "key_values", rng, name=name, params=[("s", "str")], returns="dict[str, int]",
                statement=statement, body=body, spec=spec, gen=gen,
                edge=[("",), (f"a{eq}1{sep}a{eq}-1",), (f"q{eq}0",)])


def brackets(rng: random.Random):
    pairs = pick(rng, ["()", "[]", "{}", "<>"]) if rng.random() < 0.4 else "".join(rng.sample(["()", "[]", "{}"], 2))
    name = pick(rng, ["balanced", "well_nested", "brackets_match"])
    statement = (f"s consists of the bracket characters {pairs!r}. Return True if every bracket is closed by the "
                 f"matching bracket in the right order, False otherwise.")
    closers = {pairs[i + 1]: pairs[i] for i in range(0, len(pairs), 2)}
    body = (f"stack = []\nfor ch in s:\n    if ch in {closers!r}:\n        if not stack or stack.pop() != {closers!r}[ch]:\n"
            f"            return False\n    else:\n        stack.append(ch)\nreturn not stack")
    pieces = [pairs[i:i + 2] for i in range(0, len(pairs), 2)]
    spec = (f"def spec(s):\n    prev = None\n    while prev != s:\n        prev = s\n        for p in {pieces!r}:\n"
            f"            s = s.replace(p, '')\n    return s == ''\n")

    def gen(r):
        if r.random() < 0.5:  # build a balanced string, then maybe damage it
            out = ""
            for _ in range(r.randint(0, 4)):
                p = r.choice(pieces)
                out = r.choice([p[0] + out + p[1], out + p, p + out])
            if r.random() < 0.4 and out:
                i = r.randrange(len(out))
                out = out[:i] + r.choice(pairs) + out[i + 1:]
            return (out,)
        return ("".join(r.choice(pairs) for _ in range(r.randint(0, 8))),)
    p0 = pieces[0]
    return make(FAMILY, "brackets", rng, name=name, params=[("s", "str")], returns="bool", statement=statement,
                body=body, spec=spec, gen=gen, edge=[("",), (p0[1] + p0[0],), (p0[0],), (p0 + p0,), (p0[0] + p0 + p0[1],)])


_ROMAN = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
          (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def _to_roman(n: int) -> str:
    out = ""
    for v, s in _ROMAN:
        while n >= v:
            out, n = out + s, n - v
    return out


def roman(rng: random.Random):
    sep = pick(rng, [" ", ",", ";", "/", "+"])
    agg, phrase = pick(rng, [("sum", "sum"), ("max", "largest"), ("min", "smallest")])
    name = pick(rng, ["roman_values", "from_roman", "parse_roman"])
    statement = (f"s holds one or more Roman numerals (subtractive notation, 1 to 3999) separated by {sep!r}. "
                 f"Return the {phrase} of their integer values.")
    body = (f"def value(numeral):\n    values = {{'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}}\n"
            f"    total = 0\n    for i, ch in enumerate(numeral):\n        v = values[ch]\n"
            f"        if i + 1 < len(numeral) and values[numeral[i + 1]] > v:\n            total -= v\n        else:\n"
            f"            total += v\n    return total\nreturn {agg}(value(t) for t in s.split({sep!r}))")
    spec = (f"def spec(s):\n    out = []\n    for part in s.split({sep!r}):\n"
            "        for a, b in [('CM', 'DCCCC'), ('CD', 'CCCC'), ('XC', 'LXXXX'), ('XL', 'XXXX'),\n"
            "                     ('IX', 'VIIII'), ('IV', 'IIII')]:\n            part = part.replace(a, b)\n"
            "        out.append(sum({'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}[c] for c in part))\n"
            f"    return {agg}(out)\n")
    hi = pick(rng, [50, 400, 3999])

    def gen(r):
        return (sep.join(_to_roman(r.randint(1, hi)) for _ in range(r.randint(1, 3))),)
    return make(FAMILY, "roman", rng, name=name, params=[("s", "str")], returns="int", statement=statement,
                body=body, spec=spec, gen=gen,
                edge=[("I",), ("IV",), ("IX",), ("XL",), ("XC",), ("CD",), ("CM",), ("MCMXCIV",), (f"V{sep}II",)],
                n_tests=11)


def clock_span(rng: random.Random):
    k = pick(rng, [1, 5, 10, 15, 20, 30, 45, 60, 90, 7, 25])
    name = pick(rng, ["minutes_between", "elapsed", "time_gap", "full_slots"])
    unit = "minutes" if k == 1 else f"complete {k}-minute periods"
    statement = ("start and end are times 'HH:MM' on a 24-hour clock. Going forward from start to end (past "
                 f"midnight if needed; equal times give 0), return the number of {unit} that elapse.")
    body = ("h1, m1 = map(int, start.split(':'))\nh2, m2 = map(int, end.split(':'))\n"
            f"return ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60)" + ("" if k == 1 else f" // {k}"))
    spec = ("def spec(start, end):\n    t = int(start[:2]) * 60 + int(start[3:])\n    goal = int(end[:2]) * 60 + int(end[3:])\n"
            f"    n = 0\n    while t != goal:\n        t = (t + 1) % 1440\n        n += 1\n    return n // {k}\n")

    def gen(r):
        return tuple(f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}" for _ in range(2))
    return make(FAMILY, "clock_span", rng, name=name, params=[("start", "str"), ("end", "str")], returns="int",
                statement=statement, body=body, spec=spec, gen=gen,
                edge=[("00:00", "00:00"), ("23:59", "00:00"), ("00:01", "00:00"), ("12:30", "13:15")])


TEMPLATES = [sum_expression, key_values, brackets, roman, clock_span]
