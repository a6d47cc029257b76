"""String problems: character classes, ciphers, run-length codes, word transforms."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import LOWER, letters, make, pick, word

FAMILY = "strings"


def count_in_set(rng: random.Random):
    chars = letters(rng, 2, 7)
    s = pick(rng, ["s", "text", "word"])
    name = pick(rng, ["count_marked", "count_special", "tally_letters", "count_chosen"])
    statement = pick(rng, [f"Return how many characters of {s} are one of the letters in {chars!r}.",
                           f"Count the characters in the string {s} that occur in {chars!r}.",
                           f"Given a string {s}, return the number of positions holding a letter from {chars!r}."])
    body = pick(rng, [f"return sum(1 for ch in {s} if ch in {chars!r})",
                      f"n = 0\nfor ch in {s}:\n    if ch in {chars!r}:\n        n += 1\nreturn n"])
    spec = f"def spec(x):\n    return sum(x.count(c) for c in {chars!r})\n"
    alphabet = chars + letters(rng, 2, 5)
    return make(FAMILY, "count_in_set", rng, name=name, params=[(s, "str")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (word(r, alphabet, 0, 12),), edge=[("",), (chars,)])


def caesar(rng: random.Random):
    k = rng.randint(1, 25)
    direction = pick(rng, ["forward", "back"])
    shift = k if direction == "forward" else 26 - k
    name = pick(rng, ["shift_letters", "rotate_letters", "caesar", "encode"])
    statement = (f"Shift every lowercase letter of s {k} places {direction} in the alphabet, wrapping around "
                 f"from {'z to a' if direction == 'forward' else 'a to z'}; other characters stay unchanged.")
    body = pick(rng, [
        f"out = []\nfor c in s:\n    if 'a' <= c <= 'z':\n        out.append(chr((ord(c) - 97 + {shift}) % 26 + 97))\n"
        f"    else:\n        out.append(c)\nreturn ''.join(out)",
        f"return ''.join(chr((ord(c) - 97 + {shift}) % 26 + 97) if c.islower() and c.isascii() else c for c in s)"])
    spec = (f"def spec(s):\n    a = {LOWER!r}\n    table = str.maketrans(a, a[{shift}:] + a[:{shift}])\n"
            f"    return s.translate(table)\n")
    return make(FAMILY, "caesar", rng, name=name, params=[("s", "str")], returns="str", statement=statement,
                body=body, spec=spec, gen=lambda r: (word(r, LOWER + " .!AZ", 0, 12),), edge=[("",), ("az",)])


def run_length(rng: random.Random):
    count_first = rng.random() < 0.5
    sep = pick(rng, ["", "-", ","])
    name = pick(rng, ["run_length", "compress", "encode_runs", "rle"])
    fmt = "count then letter" if count_first else "letter then count"
    statement = (f"Run-length encode s: each maximal run of one repeated character becomes {fmt}"
                 + (f", and the pieces are joined by {sep!r}." if sep else ", with nothing between the pieces."))
    piece = "str(n) + prev" if count_first else "prev + str(n)"
    body = (f"parts = []\nprev, n = None, 0\nfor c in s:\n    if c == prev:\n        n += 1\n    else:\n"
            f"        if prev is not None:\n            parts.append({piece})\n        prev, n = c, 1\n"
            f"if prev is not None:\n    parts.append({piece})\nreturn {sep!r}.join(parts)")
    spiece = "str(len(list(g))) + k" if count_first else "k + str(len(list(g)))"
    spec = f"import itertools\n\ndef spec(s):\n    return {sep!r}.join({spiece} for k, g in itertools.groupby(s))\n"
    alphabet = letters(rng, 2, 4)
    return make(FAMILY, "run_length", rng, name=name, params=[("s", "str")], returns="str", statement=statement,
                body=body, spec=spec, gen=lambda r: (word(r, alphabet, 0, 14),), edge=[("",), (alphabet[0],)])


def kth_upper(rng: random.Random):
    k = rng.randint(2, 5)
    r0 = rng.randrange(k)
    name = pick(rng, ["stripe_case", "upper_every", "mark_positions"])
    statement = (f"Return s with the character at every index i where i % {k} == {r0} converted to upper case "
                 f"(indices start at 0); all other characters are unchanged.")
    body = pick(rng, [f"return ''.join(c.upper() if i % {k} == {r0} else c for i, c in enumerate(s))",
                      f"chars = list(s)\nfor i in range({r0}, len(chars), {k}):\n    chars[i] = chars[i].upper()\n"
                      f"return ''.join(chars)"])
    spec = (f"def spec(s):\n    out = ''\n    i = 0\n    while i < len(s):\n"
            f"        out += s[i].upper() if (i - {r0}) % {k} == 0 else s[i]\n        i += 1\n    return out\n")
    return make(FAMILY, "kth_upper", rng, name=name, params=[("s", "str")], returns="str", statement=statement,
                body=body, spec=spec, gen=lambda r: (word(r, LOWER, 0, 14),), edge=[("",), ("abcdefgh",)])


def longest_run(rng: random.Random):
    chars = letters(rng, 1, 4)
    name = pick(rng, ["longest_stretch", "max_run", "longest_block"])
    statement = f"Return the length of the longest contiguous block of s made only of letters from {chars!r}."
    body = (f"best = cur = 0\nfor c in s:\n    if c in {chars!r}:\n        cur += 1\n        best = max(best, cur)\n"
            f"    else:\n        cur = 0\nreturn best")
    spec = (f"def spec(s):\n    best = 0\n    for i in range(len(s)):\n        for j in range(i, len(s) + 1):\n"
            f"            if all(c in {chars!r} for c in s[i:j]):\n                best = max(best, j - i)\n"
            f"    return best\n")
    alphabet = chars + letters(rng, 1, 3)
    return make(FAMILY, "longest_run", rng, name=name, params=[("s", "str")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (word(r, alphabet, 0, 14),),
                edge=[("",), (chars * 2,)])


def reverse_long_words(rng: random.Random):
    cmp, phrase = pick(rng, [(">=", "at least"), (">", "more than"), ("<", "fewer than")])
    k = rng.randint(3 if cmp == "<" else 2, 6)  # "fewer than 2 letters" would reverse nothing
    name = pick(rng, ["flip_words", "reverse_some_words", "mirror_words"])
    statement = (f"Words in sentence are separated by single spaces. Reverse the letters of every word with "
                 f"{phrase} {k} letters and return the sentence.")
    body = f"return ' '.join(w[::-1] if len(w) {cmp} {k} else w for w in sentence.split(' '))"
    spec = (f"def spec(sentence):\n    words = sentence.split(' ')\n    for i, w in enumerate(words):\n"
            f"        if len(w) {cmp} {k}:\n            words[i] = ''.join(reversed(w))\n    return ' '.join(words)\n")

    def gen(r):
        return (" ".join(word(r, LOWER, 1, 8) for _ in range(r.randint(0, 5))),)
    return make(FAMILY, "reverse_long_words", rng, name=name, params=[("sentence", "str")], returns="str",
                statement=statement, body=body, spec=spec, gen=gen,
                edge=[("",), ("a" * k + " " + "b" * (k + 1) + " " + "c" * (k - 1),)])


TEMPLATES = [count_in_set, caesar, run_length, kth_upper, longest_run, reverse_long_words]
