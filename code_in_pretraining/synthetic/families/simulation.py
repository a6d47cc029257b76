"""Simulation problems: robots on a grid, dials, elimination circles, balances, queues."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families.base import ints, make, pick, word

FAMILY = "simulation"


def robot(rng: random.Random):
    keys = rng.sample("NSEWUDLRFBnsewudlr", 4)
    step = rng.randint(1, 3)
    result = pick(rng, ["position", "manhattan", "max_x"])
    name = pick(rng, ["walk", "robot_moves", "follow_commands"])
    moves = {keys[0]: (0, step), keys[1]: (0, -step), keys[2]: (step, 0), keys[3]: (-step, 0)}
    what = {"position": "the final position as a tuple (x, y)",
            "manhattan": "the Manhattan distance |x| + |y| of the final position from the start",
            "max_x": "the largest x coordinate reached at any time (including the start)"}[result]
    statement = (f"A robot starts at (0, 0). Each character of commands moves it: {keys[0]!r} adds {step} to y, "
                 f"{keys[1]!r} subtracts {step} from y, {keys[2]!r} adds {step} to x, {keys[3]!r} subtracts {step} "
                 f"from x; other characters are ignored. Return {what}.")
    ret = {"position": "(x, y)", "manhattan": "abs(x) + abs(y)", "max_x": "best"}[result]
    body = (f"x = y = best = 0\nfor c in commands:\n    dx, dy = {moves!r}.get(c, (0, 0))\n    x += dx\n    y += dy\n"
            f"    best = max(best, x)\nreturn {ret}")
    if result == "max_x":
        spec = (f"def spec(commands):\n    xs = [0]\n    for c in commands:\n"
                f"        xs.append(xs[-1] + {step} * ((c == {keys[2]!r}) - (c == {keys[3]!r})))\n    return max(xs)\n")
    else:
        fin = "(x, y)" if result == "position" else "abs(x) + abs(y)"
        spec = (f"def spec(commands):\n    x = {step} * (commands.count({keys[2]!r}) - commands.count({keys[3]!r}))\n"
                f"    y = {step} * (commands.count({keys[0]!r}) - commands.count({keys[1]!r}))\n    return {fin}\n")
    returns = "tuple[int, int]" if result == "position" else "int"
    alphabet = "".join(keys) + "xz"
    return make(FAMILY, "robot", rng, name=name, params=[("commands", "str")], returns=returns,
                statement=statement, body=body, spec=spec, gen=lambda r: (word(r, alphabet, 0, 12),),
                edge=[("",), ("".join(keys),), (keys[2] * 3 + keys[3] * 4,)])


def dial(rng: random.Random):
    size = rng.randint(5, 100)
    start = rng.randrange(size)
    target = rng.randrange(size)
    count_passes = rng.random() < 0.4
    name = pick(rng, ["count_hits", "dial_visits", "spin_dial"])
    how = "passes over or stops at" if count_passes else "stops at"
    statement = (f"A dial shows the numbers 0 to {size - 1} in a circle and starts at {start}. Each entry of turns "
                 f"moves it that many clicks (positive = up, negative = down, wrapping around). Return how many "
                 f"times the dial {how} {target}" + (", counting every click." if count_passes else
                                                     " at the end of a turn."))
    if count_passes:
        body = (f"pos, hits = {start}, 0\nfor t in turns:\n    step = 1 if t > 0 else -1\n    for _ in range(abs(t)):\n"
                f"        pos = (pos + step) % {size}\n        if pos == {target}:\n            hits += 1\nreturn hits")
        spec = (f"def spec(turns):\n    seq, pos = [], {start}\n    for t in turns:\n"
                f"        seq += [(pos + (i if t > 0 else -i)) % {size} for i in range(1, abs(t) + 1)]\n"
                f"        pos = (pos + t) % {size}\n    return seq.count({target})\n")
    else:
        body = (f"pos, hits = {start}, 0\nfor t in turns:\n    pos = (pos + t) % {size}\n    if pos == {target}:\n"
                f"        hits += 1\nreturn hits")
        spec = (f"import itertools\n\ndef spec(turns):\n"
                f"    return sum(1 for p in itertools.accumulate(turns) if (p + {start} - {target}) % {size} == 0)\n")
    return make(FAMILY, "dial", rng, name=name, params=[("turns", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -2 * size, 2 * size, 0, 6),),
                edge=[([],), ([(target - start) % size],), ([size, -size],), ([(target - start) % size - size],)])


def josephus(rng: random.Random):
    k = rng.randint(2, 6)
    name = pick(rng, ["survivor", "last_standing", "elimination"])
    statement = (f"n people stand in a circle, numbered 1 to n. Counting starts at person 1 and every {k}th person "
                 f"counted leaves the circle, counting on from the next person. Return the number of the last one left.")
    body = (f"people = list(range(1, n + 1))\ni = 0\nwhile len(people) > 1:\n    i = (i + {k - 1}) % len(people)\n"
            f"    people.pop(i)\nreturn people[0]")
    spec = (f"def spec(n):\n    w = 0\n    for m in range(2, n + 1):\n        w = (w + {k}) % m\n    return w + 1\n")
    return make(FAMILY, "josephus", rng, name=name, params=[("n", "int")], returns="int", statement=statement,
                body=body, spec=spec, gen=lambda r: (r.randint(1, 40),), edge=[(1,), (2,), (k,), (k + 1,)])


def balance(rng: random.Random):
    floor = rng.randint(-10, 0)
    opening = rng.randint(0, 20)
    name = pick(rng, ["first_overdraft", "below_floor", "account_check"])
    statement = (f"An account starts with balance {opening} and applies the amounts in ops in order. Return the index "
                 f"of the first operation after which the balance is below {floor}, or -1 if that never happens.")
    body = (f"bal = {opening}\nfor i, op in enumerate(ops):\n    bal += op\n    if bal < {floor}:\n        return i\nreturn -1")
    spec = (f"import itertools\n\ndef spec(ops):\n    lows = [i for i, b in enumerate(itertools.accumulate(ops, initial={opening}))"
            f" if b < {floor}]\n    return lows[0] - 1 if lows else -1\n")
    return make(FAMILY, "balance", rng, name=name, params=[("ops", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, -15, 10, 0, 8),),
                edge=[([],), ([floor - opening],), ([floor - opening - 1],), ([5, -5 - opening + floor - 1],)])


def queue_wait(rng: random.Random):
    servers = rng.randint(1, 3)
    name = pick(rng, ["total_wait", "queue_delay", "waiting_time"])
    statement = (f"Customers arrive all at time 0 and are served in list order by {servers} identical desks; each "
                 f"desk serves one customer at a time and takes the next waiting customer as soon as it is free. "
                 f"durations[i] is customer i's service time. Return the sum of the times customers wait before "
                 f"their service starts.")
    body = (f"free = [0] * {servers}\nwait = 0\nfor d in durations:\n    k = free.index(min(free))\n"
            f"    wait += free[k]\n    free[k] += d\nreturn wait")
    spec = (f"import heapq\n\ndef spec(durations):\n    h = [0] * {servers}\n    total = 0\n    for d in durations:\n"
            f"        t = heapq.heappop(h)\n        total += t\n        heapq.heappush(h, t + d)\n    return total\n")
    return make(FAMILY, "queue_wait", rng, name=name, params=[("durations", "list[int]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (ints(r, 1, 9, 0, 8),),
                edge=[([],), ([3],), ([2] * (servers + 1),)])


TEMPLATES = [robot, dial, josephus, balance, queue_wait]
