"""The shape of signalling/: imports point one way, from composition to features to the kernel.

Read from the source (ast), not from what happens to be imported at run time, so
a lazy import inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2] / "signalling"

# Composition: builds the application and the CLI from everything below.
COMPOSITION = frozenset({"__main__", "app", "cli", "server", "openapi", "protocol_doc"})
# Features, each a package that owns its routes, socket.io handlers and app keys.
FEATURES = frozenset(
    {
        "network",
        "dispatch",
        "rooms",
        "cluster",
        "training",
        "recording",
        "casefile",
        "imaging",
        "uploads",
    }
)
# The shared kernel: knows no feature.
KERNEL = frozenset(
    {
        "settings", "errors", "logs", "background", "private_files", "free_text", "blobstore",
        "audit", "platform", "db", "shared_state", "auth", "http", "realtime",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Edge:
    source: str  # dotted module, without the leading "signalling."
    target: str  # the imported module (or the package a name was taken from)
    names: tuple[str, ...]
    line: int


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_of(p): p
        for p in ROOT.rglob("*.py")
        if "alembic" not in p.parts and not (p.name == "__init__.py" and p.parent == ROOT)
    }


def edges() -> Iterator[Edge]:
    for module, path in _modules().items():
        if not module:
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(
                        [*filter(None, base), *([node.module] if node.module else [])]
                    )
                elif node.module and node.module.startswith("signalling."):
                    target = node.module.removeprefix("signalling.")
                elif node.module == "signalling":
                    target = ""
                else:
                    continue
                yield Edge(module, target, tuple(a.name for a in node.names), node.lineno)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("signalling."):
                        target = alias.name.removeprefix("signalling.")
                        yield Edge(module, target, (), node.lineno)


def top(module: str) -> str:
    return module.split(".")[0]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_top_level_name_has_a_floor() -> None:
    names = {top(m) for m in _modules() if m}
    assert names - COMPOSITION - FEATURES - KERNEL == set()


def test_the_kernel_imports_no_feature_and_no_composition() -> None:
    wrong = [
        f"{e.source}:{e.line} imports {e.target}"
        for e in edges()
        if top(e.source) in KERNEL and top(e.target) in FEATURES | COMPOSITION
    ]
    assert wrong == []


def test_http_helpers_import_no_feature() -> None:
    wrong = [
        f"{e.source}:{e.line} imports {e.target}"
        for e in edges()
        if top(e.source) == "http" and top(e.target) not in KERNEL
    ]
    assert wrong == []


def test_features_import_no_composition() -> None:
    wrong = [
        f"{e.source}:{e.line} imports {e.target}"
        for e in edges()
        if top(e.source) in FEATURES and top(e.target) in COMPOSITION
    ]
    assert wrong == []


def test_no_private_name_crosses_a_package() -> None:
    wrong = [
        f"{e.source}:{e.line} takes {name} from {e.target}"
        for e in edges()
        for name in e.names
        if name.startswith("_") and top(e.source) != top(e.target)
    ]
    assert wrong == []


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for e in edges():
        if e.target and top(e.source) != top(e.target):
            graph.setdefault(top(e.source), set()).add(top(e.target))
    assert _cycle(graph) is None


def test_the_checker_sees_a_cycle_and_a_kernel_import() -> None:
    # The checks above must be able to fail: a two-package loop is a cycle.
    assert _cycle({"rooms": {"training"}, "training": {"rooms"}}) == ["rooms", "training", "rooms"]
    assert _cycle({"rooms": {"auth"}, "auth": set()}) is None
    assert any(top(e.source) == "http" for e in edges())
