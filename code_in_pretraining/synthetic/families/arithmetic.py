"""Arithmetic and number theory: digit sums, divisors, primes, multiples, factorial valuations, gcds."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import make, pick

FAMILY = "arithmetic"


def digit_sum(rng: random.Random):
    b = rng.randint(2, 16)
    power = rng.choice([1, 1, 2])
    name = pick(rng, ["digit_sum", "sum_of_digits", "base_digit_total"])
    what = "digits" if power == 1 else "squares of the digits"
    statement = f"Return the sum of the {what} of the non-negative integer n written in base {b}."
    term = "d" if power == 1 else "d * d"
    body = pick(rng, [f"total = 0\nwhile n > 0:\n    n, d = divmod(n, {b})\n    total += {term}\nreturn total",
                      f"total = 0\nwhile n:\n    d = n % {b}\n    total += {term}\n    n //= {b}\nreturn total"])
    spec = f"def spec(n):\n    if n == 0:\n        return 0\n    d = n % {b}\n    return {term} + spec(n // {b})\n"
    return make(FAMILY, "digit_sum", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(0, 10 ** r.randint(1, 6)),),
                edge=[(0,), (b - 1,), (b,), (b * b + 1,)])


def count_divisors(rng: random.Random):
    m = rng.randint(1, 7)
    r0 = rng.randrange(m)
    name = pick(rng, ["count_divisors", "divisor_count", "num_factors"])
    cond = "" if m == 1 else f" that leave remainder {r0} when divided by {m}"
    statement = f"Return the number of positive divisors of the positive integer n{cond}."
    test = "True" if m == 1 else f"d % {m} == {r0}"
    inc_d, inc_e = ("1", "1") if m == 1 else (f"d % {m} == {r0}", f"e % {m} == {r0}")
    body = (f"count = 0\nd = 1\nwhile d * d <= n:\n    if n % d == 0:\n        e = n // d\n"
            f"        count += {inc_d}\n        if e != d:\n            count += {inc_e}\n    d += 1\nreturn count")
    spec = f"def spec(n):\n    return len([d for d in range(1, n + 1) if n % d == 0 and ({test})])\n"
    return make(FAMILY, "count_divisors", rng, name=name, params=[("n", "int")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (r.randint(1, 400),),
                edge=[(1,), (36,), (49,), (60,)])


def count_primes(rng: random.Random):
    lo_incl = rng.random() < 0.5
    name = pick(rng, ["count_primes", "prime_count", "primes_up_to"])
    bound = "at most n" if lo_incl else "less than n"
    statement = f"Return how many prime numbers are {bound}."
    top = "n + 1" if lo_incl else "n"
    body = (f"limit = {top}\nif limit < 3:\n    return 0\nsieve = [True] * limit\nsieve[0] = sieve[1] = False\n"
            f"for p in range(2, int(limit ** 0.5) + 1):\n    if sieve[p]:\n        for q in range(p * p, limit, p):\n"
            f"            sieve[q] = False\nreturn sum(sieve)")
    spec = (f"def spec(n):\n    def prime(k):\n        return k > 1 and all(k % d for d in range(2, k))\n"
            f"    return sum(1 for k in range({top}) if prime(k))\n")
    return make(FAMILY, "count_primes", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(0, 300),), edge=[(0,), (2,), (3,), (11,), (25,)])


def sum_multiples(rng: random.Random):
    a, b = sorted(rng.sample(range(2, 13), 2))
    name = pick(rng, ["sum_multiples", "multiples_total", "sum_of_multiples"])
    statement = f"Return the sum of all positive integers below n that are multiples of {a} or of {b}."
    body = (f"def tri(k, m):\n    c = (k - 1) // m\n    return m * c * (c + 1) // 2\n"
            f"if n <= 1:\n    return 0\nlcm = {a} * {b} // math.gcd({a}, {b})\nreturn tri(n, {a}) + tri(n, {b}) - tri(n, lcm)")
    spec = f"def spec(n):\n    return sum(k for k in range(1, n) if k % {a} == 0 or k % {b} == 0)\n"
    return make(FAMILY, "sum_multiples", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(0, 500),), imports="import math",
                edge=[(0,), (a,), (a + 1,), (a * b,), (a * b + 1,)])


def factorial_valuation(rng: random.Random):
    p = pick(rng, [2, 3, 5, 7, 11, 13])
    name = pick(rng, ["factorial_power", "legendre", "trailing_factor"])
    statement = f"Return the exponent of the prime {p} in the prime factorisation of n! (n >= 0)."
    body = f"count = 0\npower = {p}\nwhile power <= n:\n    count += n // power\n    power *= {p}\nreturn count"
    spec = (f"def spec(n):\n    f = 1\n    for k in range(2, n + 1):\n        f *= k\n    e = 0\n"
            f"    while f % {p} == 0:\n        f //= {p}\n        e += 1\n    return e\n")
    return make(FAMILY, "factorial_valuation", rng, name=name, params=[("n", "int")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (r.randint(0, 120),),
                edge=[(0,), (p - 1,), (p,), (p * p,), (p * p - 1,)])


def gcd_lcm(rng: random.Random):
    use_gcd = rng.random() < 0.5
    name = pick(rng, ["list_gcd", "common_divisor"] if use_gcd else ["list_lcm", "common_multiple"])
    if use_gcd:
        statement = "Return the greatest common divisor of the positive integers in xs, or 0 if xs is empty."
        body = "g = 0\nfor x in xs:\n    a, b = g, x\n    while b:\n        a, b = b, a % b\n    g = a\nreturn g"
        spec = ("def spec(xs):\n    if not xs:\n        return 0\n"
                "    return max(d for d in range(1, min(xs) + 1) if all(x % d == 0 for x in xs))\n")
    else:
        statement = "Return the least common multiple of the positive integers in xs, or 1 if xs is empty."
        body = "result = 1\nfor x in xs:\n    result = result * x // math.gcd(result, x)\nreturn result"
        spec = ("def spec(xs):\n    m = 1\n    while any(m % x for x in xs):\n        m += 1\n    return m\n")
    hi = 60 if use_gcd else 12
    gen = (lambda r: ([r.choice([2, 3, 4, 6]) * r.randint(1, 10) for _ in range(r.randint(1, 4))],)) \
        if use_gcd else (lambda r: ([r.randint(1, hi) for _ in range(r.randint(1, 4))],))
    return make(FAMILY, "gcd_lcm", rng, name=name, params=[("xs", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=gen, imports="" if use_gcd else "import math",
                edge=[([],), ([7],), ([4, 6],)])



def power_sum(rng: random.Random):
    p = rng.randint(1, 4)
    m = rng.randint(5, 1000)
    start = rng.randint(0, 2)
    name = pick(rng, ["power_sum", "sum_of_powers", "series_mod"])
    term = "k" if p == 1 else f"k ** {p}"
    statement = (f"Return ({start}^{p} + {start + 1}^{p} + ... + n^{p}) modulo {m}, for an integer n; the sum is 0 "
                 f"when n < {start}.")
    body = pick(rng, [f"total = 0\nfor k in range({start}, n + 1):\n    total = (total + {term}) % {m}\nreturn total",
                      f"return sum(pow(k, {p}, {m}) for k in range({start}, n + 1)) % {m}"])
    spec = (f"def spec(n):\n    s, k = 0, {start}\n    while k <= n:\n        s += {'*'.join(['k'] * p)}\n        k += 1\n"
            f"    return s % {m}\n")
    return make(FAMILY, "power_sum", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(-2, 150),),
                edge=[(start - 1,), (start,), (start + 1,), (start + 5,)])


TEMPLATES = [digit_sum, count_divisors, count_primes, sum_multiples, factorial_valuation, gcd_lcm, power_sum]
