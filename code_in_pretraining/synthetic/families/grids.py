"""Geometry and grids: islands, polygon areas, lattice points, rotations, spiral walks, neighbour counts."""

from __future__ import annotations

import math
import random

from code_in_pretraining.synthetic.families.base import make, minus, pick

FAMILY = "grids"


def _grid(r: random.Random, lo: int = 0, hi: int = 5, p: float = 0.45) -> list[list[int]]:
    h, w = r.randint(lo, hi), r.randint(1, hi)
    return [[int(r.random() < p) for _ in range(w)] for _ in range(h)]


def islands(rng: random.Random):
    diag = rng.random() < 0.4
    value = pick(rng, [1, 0])
    what = pick(rng, ["count", "largest"])
    name = pick(rng, ["count_islands", "regions", "blobs"] if what == "count" else ["largest_island", "biggest_region"])
    conn = "horizontally, vertically or diagonally" if diag else "horizontally or vertically"
    ask = "the number of islands" if what == "count" else "the number of cells in the largest island (0 if none)"
    statement = (f"grid is a rectangular list of rows of 0s and 1s. An island is a maximal group of cells equal to "
                 f"{value} connected {conn}. Return {ask}.")
    nbrs = ([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] if diag
            else [(-1, 0), (1, 0), (0, -1), (0, 1)])
    fin = "len(sizes)" if what == "count" else "max(sizes, default=0)"
    body = (f"seen = set()\nsizes = []\nfor r in range(len(grid)):\n    for c in range(len(grid[r])):\n"
            f"        if grid[r][c] != {value} or (r, c) in seen:\n            continue\n"
            f"        stack, size = [(r, c)], 0\n        seen.add((r, c))\n        while stack:\n"
            f"            y, x = stack.pop()\n            size += 1\n            for dy, dx in {nbrs}:\n"
            f"                ny, nx = y + dy, x + dx\n"
            f"                if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] == {value} and (ny, nx) not in seen:\n"
            f"                    seen.add((ny, nx))\n                    stack.append((ny, nx))\n"
            f"        sizes.append(size)\nreturn {fin}")
    sfin = "len(set(roots))" if what == "count" else "max([roots.count(x) for x in roots], default=0)"
    spec = (f"def spec(grid):\n    cells = [(r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if v == {value}]\n"
            f"    parent = {{p: p for p in cells}}\n    def find(p):\n        while parent[p] != p:\n"
            f"            p = parent[p]\n        return p\n    for (r, c) in cells:\n        for (q, s) in cells:\n"
            f"            if max(abs(r - q), abs(c - s)) == 1 and {'True' if diag else '(r == q or c == s)'}:\n"
            f"                parent[find((r, c))] = find((q, s))\n    roots = [find(p) for p in cells]\n"
            f"    return {sfin}\n")
    return make(FAMILY, "islands", rng, name=name, params=[("grid", "list[list[int]]")], returns="int",
                statement=statement, body=body, spec=spec, gen=lambda r: (_grid(r),),
                edge=[([],), ([[1, 0], [0, 1]],), ([[0, 1], [1, 0]],), ([[value] * 3],), ([[1 - value]],),
                      ([[value, 1 - value, value]],), ([[value], [1 - value], [value]],),
                      ([[value, 1 - value, value], [value, value, value]],),
                      ([[1 - value, value], [value, value]],), ([[value, value], [value, 1 - value]],),
                      ([[value, 1 - value, value], [1 - value, 1 - value, 1 - value], [value, 1 - value, value]],)],
                n_tests=14, gen_tests=lambda r: (_grid(r, 4, 7, 0.5),))


def polygon_area(rng: random.Random):
    name = pick(rng, ["double_area", "twice_area", "polygon_area2"])
    statement = ("points are the vertices (x, y) of a simple polygon with integer coordinates, in order. Return twice "
                 "its area (an integer); fewer than three points give 0.")
    body = ("s = 0\nfor i in range(len(points)):\n    x1, y1 = points[i]\n    x2, y2 = points[(i + 1) % len(points)]\n"
            "    s += x1 * y2 - x2 * y1\nreturn abs(s)")
    spec = ("def spec(points):\n    if len(points) < 3:\n        return 0\n    t = 0\n"
            "    for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1]):\n        t += (bx - ax) * (by + ay)\n"
            "    return abs(t)\n")
    scale = rng.randint(1, 4)

    def gen(r):  # a star-shaped polygon around the origin, vertices sorted by angle
        n = r.randint(3, 6)
        angles = sorted(r.uniform(0, 2 * math.pi) for _ in range(n))
        return ([(round(math.cos(a) * r.randint(1, 5) * scale), round(math.sin(a) * r.randint(1, 5) * scale))
                 for a in angles],)
    return make(FAMILY, "polygon_area", rng, name=name, params=[("points", "list[tuple[int, int]]")],
                returns="int", statement=statement, body=body, spec=spec, gen=gen,
                edge=[([],), ([(0, 0), (4, 0)],), ([(0, 0), (scale, 0), (0, scale)],), ([(0, 0), (0, 3), (3, 3), (3, 0)],)])


def lattice(rng: random.Random):
    metric, phrase = pick(rng, [("x * x + y * y <= r * r", "inside or on the circle of radius r around the origin"),
                                ("abs(x) + abs(y) <= r", "with |x| + |y| <= r"),
                                ("max(abs(x), abs(y)) == r", "on the square max(|x|, |y|) == r")])
    shift = rng.randint(0, 3)
    name = pick(rng, ["lattice_points", "count_points", "grid_points"])
    cond = metric if shift == 0 else f"{metric} and x > {shift - 1}"
    extra = "" if shift == 0 else f" and with x >= {shift}"
    statement = f"Return the number of integer points (x, y) {phrase}{extra} (r >= 0)."
    if metric.startswith("x * x"):
        body = (f"count = 0\nfor x in range({'-r' if shift == 0 else shift}, r + 1):\n"
                f"    h = math.isqrt(r * r - x * x)\n    count += 2 * h + 1\nreturn count")
        imports = "import math"
    else:
        body = f"return sum(1 for x in range(-r, r + 1) for y in range(-r, r + 1) if {cond})"
        imports = ""
    spec = (f"def spec(r):\n    n = 0\n    x = -r\n    while x <= r:\n        for y in range(-r, r + 1):\n"
            f"            if {cond}:\n                n += 1\n        x += 1\n    return n\n")
    return make(FAMILY, "lattice", rng, name=name, params=[("r", "int")], returns="int", statement=statement,
                body=body, spec=spec, imports=imports, gen=lambda r: (r.randint(0, 15),), edge=[(0,), (1,), (2,), (5,)])


def rotate_matrix(rng: random.Random):
    turns = rng.randint(1, 3)
    clockwise = rng.random() < 0.5
    transpose_first = rng.random() < 0.2
    name = pick(rng, ["rotate_grid", "turn_matrix", "spin"])
    way = "clockwise" if clockwise else "counter-clockwise"
    statement = (f"Return the rectangular matrix m (a list of rows)" + (" transposed and then" if transpose_first else "")
                 + f" rotated {90 * turns} degrees {way}.")
    one = "[list(row) for row in zip(*m[::-1])]" if clockwise else "[list(row) for row in zip(*m)][::-1]"
    body = ("m = [list(r) for r in zip(*m)]\n" if transpose_first else "") + \
        f"for _ in range({turns}):\n    m = {one}\nreturn m"
    cw_turns = turns if clockwise else (4 - turns) % 4
    spec = ("def spec(m):\n" + ("    m = [[m[i][j] for i in range(len(m))] for j in range(len(m[0]))]\n" if transpose_first else "")
            + f"    for _ in range({cw_turns}):\n        h, w = len(m), len(m[0])\n"
            + "        m = [[m[h - 1 - i][j] for i in range(h)] for j in range(w)]\n    return m\n")

    def gen(r):
        h, w = r.randint(1, 4), r.randint(1, 4)
        return ([[r.randint(0, 9) for _ in range(w)] for _ in range(h)],)
    return make(FAMILY, "rotate_matrix", rng, name=name, params=[("m", "list[list[int]]")],
                returns="list[list[int]]", statement=statement, body=body, spec=spec, gen=gen,
                edge=[([[1]],), ([[1, 2, 3]],), ([[1, 2], [3, 4]],)])


def neighbours(rng: random.Random):
    diag = rng.random() < 0.5
    born = sorted(rng.sample(range(1, 9 if diag else 5), rng.randint(1, 2)))
    keep = sorted(rng.sample(range(0, 9 if diag else 5), rng.randint(1, 3)))
    name = pick(rng, ["life_step", "evolve", "next_generation"])
    kind = "eight surrounding" if diag else "four edge-adjacent"
    statement = (f"grid is a rectangular list of rows of 0s and 1s. In one step every cell looks at its {kind} cells "
                 f"inside the grid: a 0 becomes 1 when the number of 1s among them is in {born}, and a 1 stays 1 "
                 f"when that number is in {keep} (otherwise it becomes 0). Return the grid after one step.")
    nbrs = ([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] if diag
            else [(-1, 0), (1, 0), (0, -1), (0, 1)])
    body = (f"h = len(grid)\nout = []\nfor r in range(h):\n    row = []\n    for c in range(len(grid[r])):\n"
            f"        n = sum(grid[r + dr][c + dc] for dr, dc in {nbrs} if 0 <= r + dr < h and 0 <= c + dc < len(grid[r]))\n"
            f"        row.append(int(n in ({', '.join(map(str, keep))},) if grid[r][c] else n in ({', '.join(map(str, born))},)))\n"
            f"    out.append(row)\nreturn out")
    near = "max(abs(i - r), abs(j - c)) == 1" if diag else "abs(i - r) + abs(j - c) == 1"
    spec = (f"def spec(grid):\n    cells = {{(i, j): v for i, row in enumerate(grid) for j, v in enumerate(row)}}\n"
            f"    def count(r, c):\n        return sum(v for (i, j), v in cells.items() if {near})\n"
            f"    return [[1 if (v and count(r, c) in {keep}) or (not v and count(r, c) in {born}) else 0\n"
            f"             for c, v in enumerate(row)] for r, row in enumerate(grid)]\n")
    return make(FAMILY, "neighbours", rng, name=name, params=[("grid", "list[list[int]]")],
                returns="list[list[int]]", statement=statement, body=body, spec=spec,
                gen=lambda r: (_grid(r, 1, 4, 0.5),), edge=[([[1]],), ([[0, 1, 0], [1, 1, 1], [0, 1, 0]],)],
                n_tests=12)



def near_points(rng: random.Random):
    px, py = rng.randint(-5, 5), rng.randint(-5, 5)
    kind, metric, phrase = pick(rng, [
        ("M", "abs({dx}) + abs({dy})", "Manhattan distance"),
        ("C", "max(abs({dx}), abs({dy}))", "Chebyshev distance (the larger of |dx| and |dy|)"),
        ("E", "({dx}) ** 2 + ({dy}) ** 2", "squared Euclidean distance")])
    metric = metric.format(dx=minus("x", px), dy=minus("y", py))
    d = rng.randint(0, 12)
    strict = rng.random() < 0.5
    rel = "<" if strict else "<="
    name = pick(rng, ["count_near", "points_within", "close_points"])
    statement = (f"points is a list of (x, y) integer pairs. Return how many of them have {phrase} to ({px}, {py}) "
                 f"{'less than' if strict else 'at most'} {d}.")
    body = f"return sum(1 for x, y in points if {metric} {rel} {d})"
    u, v = minus("p[0]", px), minus("p[1]", py)
    spec_metric = {"M": f"abs({u}) + abs({v})", "C": f"max(abs({u}), abs({v}))",
                   "E": f"({u}) * ({u}) + ({v}) * ({v})"}[kind]
    spec = f"def spec(points):\n    return len([p for p in points if not {spec_metric} {'>=' if strict else '>'} {d}])\n"

    def gen(r):
        return ([(px + r.randint(-6, 6), py + r.randint(-6, 6)) for _ in range(r.randint(0, 8))],)
    return make(FAMILY, "near_points", rng, name=name, params=[("points", "list[tuple[int, int]]")], returns="int",
                statement=statement, body=body, spec=spec, gen=gen,
                edge=[([],), ([(px, py)],), ([(px + d, py), (px, py - d), (px + d + 1, py)],)])


TEMPLATES = [islands, polygon_area, lattice, rotate_matrix, neighbours, near_points]
