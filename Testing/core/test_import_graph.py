"""The library's import graph: no circle of modules, and the model packages never reach up into the packages that
measure or drive them. Every import counts, those inside functions too (moving an import into a function hides a
circle from Python's start-up, not from the design); only ``if TYPE_CHECKING:`` blocks are left out."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "IExplainLib"

# Packages that a model or its inputs are built from, and packages that evaluate, drive or time them. A package of
# the first kind importing one of the second is an upward import (segmenter/report.py importing evaluation/ was).
MODEL_PACKAGES = ("classifier", "explain", "segmenter", "io", "training")
UPPER_PACKAGES = ("evaluation", "cli", "reproduce", "benchmarks")


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, module: str, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(node) for block in ast.walk(tree)
                 if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                 for node in ast.walk(block)}
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names) and target in modules:
                found.add(target)
    return found - {module}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in LIBRARY.rglob("*.py")}
    return {name: _runtime_imports(path, name, set(paths)) for name, path in paths.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_function_level_imports_and_skips_type_checking_ones():
    graph = import_graph()
    # explain/explainer.py imports classifier.inference inside IExplainer.__init__
    assert "IExplainLib.classifier.inference" in graph["IExplainLib.explain.explainer"]
    # evaluation/explainer_runs.py names IExplainer in annotations only, under TYPE_CHECKING
    assert "IExplainLib.explain.explainer" not in graph["IExplainLib.evaluation.explainer_runs"]


def test_no_module_reaches_itself_through_others():
    assert circles(import_graph()) == []


def test_a_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_model_packages_never_import_the_packages_that_measure_or_drive_them():
    upward = sorted(f"{module} -> {target}" for module, targets in import_graph().items()
                    if module.split(".")[1:2] and module.split(".")[1] in MODEL_PACKAGES
                    for target in targets if target.split(".")[1:2] and target.split(".")[1] in UPPER_PACKAGES)
    assert upward == []
