"""No import cycles among our modules (ingest/, rag_service/, policies/), and imports only down the
layers of README "What is where"; read from the source with `ast`.

What counts as an import: every `import` / `from ... import` statement anywhere in a module: at
module level, under `if TYPE_CHECKING:` and inside functions. A TYPE_CHECKING import is still a
dependency that readers and mypy follow (the history <-> state cycle of issue 15 existed only
there), and an import moved into a function is the usual way to hide a cycle at run time, so
neither is exempt.

`import ingest.x.y` and `from ingest.x import y` resolve to the module `ingest.x.y` when it
exists, else to the nearest enclosing module (`from ingest.x import Name` -> `ingest.x`); relative
imports are resolved against their package. Third-party modules are ignored.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingest", "rag_service", "policies")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(module: str, path: Path) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}"  # a submodule, or a name resolved to `base` below


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {_resolve(name, modules) for name in _imported_names(module, path)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycle_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Edges whose two ends are in one strongly connected component (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    component: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = index[node]
                    if member == node:
                        break
    return {(a, b) for a, targets in graph.items() for b in targets if component[a] == component[b]}


def test_the_walker_sees_imports_of_every_kind() -> None:
    graph = import_graph()
    assert "ingest.store.history" in graph["ingest.store.state"]  # module level
    assert "ingest.stages.writer" in graph["ingest.stages.staging"]  # under TYPE_CHECKING
    assert "ingest.sources.file" in graph["ingest.sources.registry"]  # inside a function
    assert {"ingest.store.state", "ingest.store.tables"} <= set(graph)
    assert cycle_edges({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == {
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
    }


def test_no_import_cycles() -> None:
    found = cycle_edges(import_graph())
    assert not found, f"imports that close a cycle: {sorted(found)}"


# The layers of README "What is where", top to bottom: a module imports only from its own layer or
# the layers below it. A module's layer is the first entry its dotted name starts with.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("rag_service",),
    ("ingest.jobs",),
    ("ingest.governance",),
    ("ingest.pipeline",),
    ("ingest.sources",),
    ("ingest.stages",),
    ("ingest.index",),
    ("ingest.store",),
    ("ingest",),  # the shared vocabulary: models, payload keys, config sections, errors, partitions
    ("policies",),
)


def layer_of(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and README's map)")


def upward_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if layer_of(b) < layer_of(a)}


def test_the_layer_rule_catches_an_upward_import() -> None:
    assert upward_edges({"ingest.store.state": {"ingest.jobs.model", "ingest.models"}}) == {
        ("ingest.store.state", "ingest.jobs.model")
    }
    assert upward_edges({"ingest.jobs.runner": {"ingest.store.state", "policies.consent"}}) == set()


def test_imports_point_down_the_layers() -> None:
    found = upward_edges(import_graph())
    assert not found, f"imports from a higher layer: {sorted(found)}"
