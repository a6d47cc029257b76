"""Bit manipulation: population counts, bit reversal, Gray codes, masks, powers of two."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import make, pick

FAMILY = "bits"


def popcount(rng: random.Random):
    what = pick(rng, ["ones", "zeros", "parity"])
    w = rng.choice([8, 12, 16, 24, 32])
    name = pick(rng, {"ones": ["count_ones", "popcount"], "zeros": ["count_zero_bits", "zero_bits"],
                      "parity": ["parity", "odd_ones"]}[what])
    statement = {"ones": f"Return the number of 1 bits in the lowest {w} bits of the non-negative integer n.",
                 "zeros": f"Return the number of 0 bits among the lowest {w} bits of the non-negative integer n.",
                 "parity": f"Return 1 if the lowest {w} bits of the non-negative integer n contain an odd number "
                           f"of 1 bits, else 0."}[what]
    fin = {"ones": "count", "zeros": f"{w} - count", "parity": "count & 1"}[what]
    body = f"n &= (1 << {w}) - 1\ncount = 0\nwhile n:\n    n &= n - 1\n    count += 1\nreturn {fin}"
    sfin = {"ones": "c", "zeros": f"{w} - c", "parity": "c % 2"}[what]
    spec = f"def spec(n):\n    c = format(n, 'b')[-{w}:].count('1')\n    return {sfin}\n"
    return make(FAMILY, "popcount", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.getrandbits(r.randint(1, w + 6)),),
                edge=[(0,), (1,), ((1 << w) - 1,), (1 << w,), ((1 << (w + 1)) - 1,)])


def reverse_bits(rng: random.Random):
    w = rng.choice([4, 6, 8, 10, 16])
    name = pick(rng, ["reverse_bits", "mirror_bits", "flip_order"])
    statement = (f"n is an integer from 0 to {2 ** w - 1}. Return the integer whose {w}-bit binary representation "
                 f"is that of n read backwards.")
    body = f"out = 0\nfor _ in range({w}):\n    out = (out << 1) | (n & 1)\n    n >>= 1\nreturn out"
    spec = f"def spec(n):\n    return int(format(n, '0{w}b')[::-1], 2)\n"
    return make(FAMILY, "reverse_bits", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randrange(2 ** w),), edge=[(0,), (1,), (2 ** w - 1,), (2 ** (w - 1),)])


def gray(rng: random.Random):
    inverse = rng.random() < 0.5
    k = pick(rng, [1, 1, 2, 3, 4])
    code = "reflected binary Gray code" if k == 1 else f"the code x ^ (x >> {k})"
    name = pick(rng, ["from_gray", "decode_shift_xor"] if inverse else ["to_gray", "encode_shift_xor"])
    if inverse:
        statement = f"n is the value of {code} for some non-negative integer x. Return x."
        body = f"out = 0\nwhile n:\n    out ^= n\n    n >>= {k}\nreturn out"
        spec = f"def spec(n):\n    x = 0\n    while x ^ (x >> {k}) != n:\n        x += 1\n    return x\n"
        gen = (lambda r: (r.randrange(2 ** r.randint(1, 10)),))
    else:
        statement = f"Return {code} of the non-negative integer x." if k > 1 else f"Return the {code} of x (x >= 0)."
        body = f"return x ^ (x >> {k})"
        spec = (f"def spec(x):\n    b = format(x, 'b')\n    p = '0' * {k} + b[:len(b) - {k}]\n"
                f"    return int(''.join('1' if u != v else '0' for u, v in zip(b, p)), 2)\n")
        gen = (lambda r: (r.randrange(2 ** r.randint(1, 16)),))
    arg = "n" if inverse else "x"
    return make(FAMILY, "gray", rng, name=name, params=[(arg, "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=gen, edge=[(0,), (1,), (2,), (3,), (7,), (8,), (2 ** k,)])


def mask_ops(rng: random.Random):
    ops = [(rng.choice(["set", "clear", "toggle"]), rng.randrange(12)) for _ in range(rng.randint(2, 4))]
    name = pick(rng, ["apply_masks", "edit_bits", "bit_script"])
    words = {"set": "set bit {} to 1", "clear": "clear bit {} to 0", "toggle": "toggle bit {}"}
    steps = "; then ".join(words[o].format(b) for o, b in ops)
    statement = f"Starting from the non-negative integer n (bit 0 is the least significant), {steps}. Return the result."
    lines = {"set": "n |= 1 << {}", "clear": "n &= ~(1 << {})", "toggle": "n ^= 1 << {}"}
    body = "\n".join(lines[o].format(b) for o, b in ops) + "\nreturn n"
    spec_lines = {"set": "bits[{0}] = '1'", "clear": "bits[{0}] = '0'",
                  "toggle": "bits[{0}] = '0' if bits[{0}] == '1' else '1'"}
    spec = ("def spec(n):\n    bits = list(format(n, '032b')[::-1])\n"
            + "".join(f"    {spec_lines[o].format(b)}\n" for o, b in ops)
            + "    return int(''.join(reversed(bits)), 2)\n")
    return make(FAMILY, "mask_ops", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randrange(2 ** 14),), edge=[(0,), (2 ** 12 - 1,)])


def bit_distance(rng: random.Random):
    w = rng.choice([8, 16, 32])
    name = pick(rng, ["hamming", "bit_distance", "differing_bits"])
    statement = f"Return how many of the lowest {w} bits differ between the non-negative integers a and b."
    body = pick(rng, [f"return bin((a ^ b) & ((1 << {w}) - 1)).count('1')",
                      f"d = (a ^ b) & ((1 << {w}) - 1)\ncount = 0\nwhile d:\n    count += d & 1\n    d >>= 1\nreturn count"])
    spec = f"def spec(a, b):\n    return sum(((a >> i) & 1) != ((b >> i) & 1) for i in range({w}))\n"
    return make(FAMILY, "bit_distance", rng, name=name, params=[("a", "int"), ("b", "int")], returns="int",
                statement=statement, body=body, spec=spec,
                gen=lambda r: (r.getrandbits(w + 4), r.getrandbits(w + 4)),
                edge=[(0, 0), (0, 1 << w), ((1 << w) - 1, 0), (5, 6)])


TEMPLATES = [popcount, reverse_bits, gray, mask_ops, bit_distance]
