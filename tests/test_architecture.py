"""The package's shape: no import cycles (lazy imports included), small modules, no backend branches."""

from __future__ import annotations

import ast
from pathlib import Path

import ctxembed

ROOT = Path(ctxembed.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each ctxembed module -> the ctxembed modules it imports, at top level or inside functions."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_even_through_lazy_imports():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# Each package and the packages above it, which it must never import (lazy imports included). index/ needs only
# the Embedder protocol, so training (contextual/, static/, distill/) may build an index to score on; it selects
# with scoring/, never with evaluate/; only serve/ and cli/ sit on top.
ABOVE = {
    "scoring": {"contextual", "static", "distill", "index", "evaluate", "cli", "serve", "benchmarks"},
    "retrieval": {"contextual", "static", "distill", "index", "evaluate", "scoring", "cli", "serve", "benchmarks"},
    "contextual": {"distill", "evaluate", "cli", "serve", "benchmarks"},
    "static": {"distill", "evaluate", "cli", "serve", "benchmarks"},
    "distill": {"evaluate", "cli", "serve", "benchmarks"},
    "index": {"contextual", "static", "distill", "evaluate", "cli", "serve", "benchmarks"},
    "evaluate": {"cli", "serve"},
    "serve": {"cli"},
}


def test_no_layer_imports_a_layer_above_it():
    broken = []
    for module, targets in import_graph().items():
        package = module.split(".")[1] if module.count(".") else ""
        if package in ABOVE and "ctxembed" in targets:  # the root re-exports every layer: name the real module
            broken.append(f"{module} -> ctxembed (import from the module that defines it)")
        for target in targets:
            above = target.split(".")[1] if target.count(".") else ""
            if above in ABOVE.get(package, ()):
                broken.append(f"{module} -> {target}")
    assert not broken, "; ".join(sorted(broken))
