"""ast.parse and ast.literal_eval behind one lock.

CPython 3.11 keeps the depth of AST construction per interpreter, not per thread: two
threads that parse at once (the Beam DirectRunner's worker threads, each verifying its
own chunk) can fail with a spurious "AST constructor recursion depth mismatch"
SystemError. Every parse in this package goes through here.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    with _LOCK:
        return ast.parse(source)


def literal_eval(text: str):
    with _LOCK:
        return ast.literal_eval(text)
