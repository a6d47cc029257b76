"""Duplicate detection by normalised AST.

Two problems are duplicates when their signature + solution are the same program
up to identifier names and docstrings: names are replaced by v0, v1, ... in
order of first appearance (builtins and imported modules keep theirs), so a
renamed copy of an earlier problem is caught while a changed constant is not.
"""

from __future__ import annotations

import ast
import builtins
import hashlib

from code_in_pretraining.synthetic import parsing

_KEEP = frozenset(dir(builtins))


class _Canonical(ast.NodeTransformer):
    def __init__(self, keep: frozenset[str]):
        self.keep = keep
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name in self.keep:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_FunctionDef(self, node):
        node.name = self._name(node.name)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        self.generic_visit(node)
        return node

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node


def _imported(tree: ast.AST) -> frozenset[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def normalise(source: str) -> str:
    """The canonical dump of `source`: identifiers renamed, docstrings dropped."""
    tree = parsing.parse(source)
    tree = _Canonical(_KEEP | _imported(tree)).visit(tree)
    return ast.dump(tree, annotate_fields=False)


def key(source: str) -> str:
    return hashlib.sha256(normalise(source).encode()).hexdigest()


class Deduper:
    """Remembers keys in the order problems are offered; `seen` answers and records."""

    def __init__(self):
        self._keys: set[str] = set()

    def seen(self, source: str) -> bool:
        k = key(source)
        if k in self._keys:
            return True
        self._keys.add(k)
        return False
