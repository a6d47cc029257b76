"""The layers hold: every import points down or sideways, no module imports itself round a cycle,
and only the command-line room parses arguments."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Lowest first; a module may import from its own layer or below.
LAYERS = {"kernels": 0, "parallel": 0, "data": 0, "model": 1, "train": 2, "eval": 3, "synthetic": 4,
          "tasks": 5, "experiments": 6, "cli": 7}


def _modules() -> dict[str, pathlib.Path]:
    paths = [*ROOT.glob("code_in_pretraining/**/*.py"), *ROOT.glob("tasks/*.py")]
    out = {}
    for p in paths:
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "tasks":
        return LAYERS["tasks"]
    if parts[0] != "code_in_pretraining" or len(parts) == 1:
        return None
    return LAYERS[parts[1]]


def _imports(module: str, path: pathlib.Path) -> set[str]:
    """The project's modules that `module` imports anywhere in its body (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # a function or class imported from a module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_import_points_down_or_sideways():
    upward = [f"{m} -> {t}" for m, targets in GRAPH.items() for t in sorted(targets)
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    """Package __init__ files that re-export their own modules are not cycles."""
    edges = {m: {t for t in ts if not m.startswith(t + ".") and not t.startswith(m + ".")} for m, ts in GRAPH.items()}
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                cycles.append(" -> ".join([*stack[stack.index(t):], t]))
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _imports_argparse(path: pathlib.Path) -> bool:
    return any(isinstance(n, ast.Import) and any(a.name == "argparse" for a in n.names)
               or isinstance(n, ast.ImportFrom) and n.module == "argparse" for n in ast.walk(ast.parse(path.read_text())))


def test_only_the_command_line_parses_arguments():
    parsing = [m for m, p in MODULES.items() if _layer(m) != LAYERS["cli"]
               and (_imports_argparse(p) or "def main(argv" in p.read_text())]
    assert not parsing, f"argument parsing outside code_in_pretraining/cli: {parsing}"


def test_the_layer_table_names_every_package():
    packages = {p.parent.name for p in ROOT.glob("code_in_pretraining/*/__init__.py")}
    assert packages <= set(LAYERS), f"packages without a layer: {packages - set(LAYERS)}"
