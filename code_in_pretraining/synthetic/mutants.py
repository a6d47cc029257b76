"""AST mutants of a solution: small plausible bugs that good tests must catch.

Each mutant applies ONE operator at ONE site of the function:
  compare    flip a comparison (< <=, > >=, == !=, in / not in, is / is not)
  constant   an integer constant off by one (n -> n + 1, n -> n - 1)
  arith      swap an arithmetic / bitwise operator (+ -, * //, // %, & |, ^ |, << >>, ...)
  augassign  swap the operator of an augmented assignment
  boolop     and <-> or
  negate     negate the condition of an if / while / conditional expression
  not        drop a `not`, or a unary minus
  return     replace a returned value with a constant of the wrong kind
  break      break <-> continue
  bool       True <-> False
  builtin    swap min / max, any / all
  string     a string constant emptied (or "" made "x")
  delete     replace one expression statement or assignment by `pass`
Sites are enumerated in a fixed walk order, so the list is deterministic.
"""

from __future__ import annotations

import ast
import dataclasses
import random
from collections.abc import Callable

from code_in_pretraining.synthetic import parsing

_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BUILTINS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_ARITH = {ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Add, ast.FloorDiv), ast.FloorDiv: (ast.Mod, ast.Mult),
          ast.Mod: (ast.FloorDiv,), ast.BitAnd: (ast.BitOr,), ast.BitOr: (ast.BitAnd, ast.BitXor),
          ast.BitXor: (ast.BitOr,), ast.LShift: (ast.RShift,), ast.RShift: (ast.LShift,), ast.Pow: (ast.Mult,),
          ast.Div: (ast.Mult,)}


@dataclasses.dataclass(frozen=True)
class Mutant:
    operator: str
    line: int
    source: str


def _sites(tree: ast.AST):
    """(operator, node, choice) for every mutable site, in walk order."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _COMPARE:
                    yield "compare", node, i
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield "constant", node, +1
            yield "constant", node, -1
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            yield "bool", node, 0
        elif isinstance(node, ast.Constant) and type(node.value) is str:
            yield "string", node, 0
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BUILTINS:
            yield "builtin", node, 0
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            for j in range(len(_ARITH[type(node.op)])):
                yield "arith", node, j
        elif isinstance(node, ast.AugAssign) and type(node.op) in _ARITH:
            yield "augassign", node, 0
        elif isinstance(node, ast.BoolOp):
            yield "boolop", node, 0
        elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
            yield "negate", node, 0
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            yield "not", node, 0
        elif isinstance(node, ast.Return) and node.value is not None:
            yield "return", node, 0
        elif isinstance(node, (ast.Break, ast.Continue)):
            yield "break", node, 0
    # Comprehension filters are conditions too.
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            for i in range(len(node.ifs)):
                yield "negate", node, i
    # Statements with an effect (expressions, assignments); a block left empty gets `pass`.
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list) and not isinstance(node, ast.Module):
                for i, stmt in enumerate(block):
                    if isinstance(stmt, (ast.Expr, ast.Assign, ast.AugAssign)) and not _is_docstring(stmt):
                        yield "delete", node, (field, i)


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _wrong_constant(value: ast.expr) -> ast.expr:
    """A returned constant that differs from what the function meant to return."""
    if isinstance(value, ast.Constant) and value.value in (0, None, False):
        return ast.Constant(1)
    return ast.Constant(None) if not isinstance(value, ast.Constant) else ast.Constant(0)


def _edit(container, key, new) -> Callable[[], None]:
    """Sets container[key] (a list) or container.key (a node) to `new`; returns how to undo it."""
    if isinstance(container, list):
        old = container[key]
        container[key] = new
        return lambda: container.__setitem__(key, old)
    old = getattr(container, key)
    setattr(container, key, new)
    return lambda: setattr(container, key, old)


def _parents(tree: ast.AST) -> dict[int, tuple]:
    """id(node) -> (the list or node that holds it, its index or field name)."""
    out = {}
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                out.update((id(item), (value, i)) for i, item in enumerate(value) if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                out[id(value)] = (node, field)
    return out


def _apply(node: ast.AST, operator: str, choice, parents: dict[int, tuple]) -> Callable[[], None]:
    """Applies one mutation to the tree in place; returns how to undo it."""
    if operator == "compare":
        return _edit(node.ops, choice, _COMPARE[type(node.ops[choice])]())
    if operator == "constant":
        return _edit(node, "value", node.value + choice)
    if operator == "arith":
        return _edit(node, "op", _ARITH[type(node.op)][choice]())
    if operator == "augassign":
        return _edit(node, "op", _ARITH[type(node.op)][0]())
    if operator == "boolop":
        return _edit(node, "op", ast.Or() if isinstance(node.op, ast.And) else ast.And())
    if operator == "negate":
        if isinstance(node, ast.comprehension):
            return _edit(node.ifs, choice, ast.UnaryOp(ast.Not(), node.ifs[choice]))
        return _edit(node, "test", ast.UnaryOp(ast.Not(), node.test))
    if operator == "bool":
        return _edit(node, "value", not node.value)
    if operator == "string":
        return _edit(node, "value", "" if node.value else "x")
    if operator == "builtin":
        return _edit(node, "func", ast.Name(_BUILTINS[node.func.id], ast.Load()))
    if operator == "delete":
        field, i = choice
        return _edit(getattr(node, field), i, ast.Pass())
    if operator == "return":
        return _edit(node, "value", _wrong_constant(node.value))
    if operator == "not":  # the operand takes the operation's place
        return _edit(*parents[id(node)], node.operand)
    if operator == "break":
        return _edit(*parents[id(node)], ast.Continue() if isinstance(node, ast.Break) else ast.Break())
    raise ValueError(f"unknown operator {operator!r}")


def count_sites(source: str) -> int:
    return sum(1 for _ in _sites(parsing.parse(source)))


def mutants(source: str, sites: list[int] | None = None) -> list[Mutant]:
    """The single-site mutants of `source` at `sites` (default: every site), dropping any whose text
    equals the original or an earlier mutant, or does not compile. One tree: each mutation is
    applied, written out and undone before the next."""
    tree = parsing.parse(source)
    every = list(_sites(tree))
    parents = _parents(tree)
    original = ast.unparse(tree)
    out, seen = [], {original}
    for k in range(len(every)) if sites is None else sites:
        operator, node, choice = every[k]
        undo = _apply(node, operator, choice, parents)
        try:
            text = ast.unparse(tree)
            compile(text, "<mutant>", "exec")
        except (SyntaxError, ValueError):
            continue
        finally:
            undo()
        if text in seen:
            continue
        seen.add(text)
        out.append(Mutant(operator, getattr(node, "lineno", 0), text))
    return out


def sample(source: str, limit: int, rng: random.Random) -> tuple[int, list[Mutant]]:
    """(number of sites, mutants at up to `limit` sites chosen by `rng`)."""
    n = count_sites(source)
    sites = list(range(n)) if n <= limit else sorted(rng.sample(range(n), limit))
    return n, mutants(source, sites)
