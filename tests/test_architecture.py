"""The package's shape: no import cycle, layers that point one way, no `DataFrame.attrs`,
no file that points to a document outside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "toolkit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every toolkit module ``path`` imports, at module level or inside a function
    (imports only for type checkers left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in modules else base)
            visit(child)

    visit(tree)
    return {m for m in found if m in modules}


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) - {_module_name(p)} for p in paths}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_import_walker_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "toolkit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from toolkit.sub import c\n"
        "def f():\n    from . import b\n"
    )
    modules = {"toolkit.sub.a", "toolkit.sub.b", "toolkit.sub.c"}
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert _imports(pkg / "sub" / "a.py", modules) == {"toolkit.sub.b"}
    finally:
        ROOT = saved


def test_no_import_cycle_in_the_package():
    graph = _graph()
    assert len(graph) > 30  # the walk saw the package
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_layers_point_one_way():
    graph = _graph()
    for module, imports in graph.items():
        if module.startswith("toolkit.analysis"):
            bad = {
                m
                for m in imports
                if m.startswith(("toolkit.tracking", "toolkit.report", "toolkit.cli"))
                or m == "toolkit.diagnosis"
            }
            assert not bad, f"{module} (analysis) imports {sorted(bad)}"
        if module.startswith("toolkit.report"):
            bad = {m for m in imports if m.startswith(("toolkit.tracking", "toolkit.cli"))}
            assert not bad, f"{module} (report) imports {sorted(bad)}"


def _third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_heavy_libraries_only_in_their_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        used = _third_party(path)
        if "mlflow" in used:
            assert rel.startswith("tracking/"), f"{rel} imports mlflow"
        if used & {"matplotlib", "jinja2"}:
            assert rel.startswith("report/"), f"{rel} imports matplotlib or jinja2"


def test_dataframe_attrs_are_used_nowhere():
    # metadata rides in result fields: pandas documents ``attrs`` as experimental
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "attrs"
        ]
        assert not uses, f"{path.relative_to(ROOT)} reads or writes .attrs at lines {uses}"


def test_no_file_points_to_a_document_outside_the_repository():
    pattern = re.compile(r"\.\./shared|DESIGN\.md")
    skip = {".git", ".venv", "build", "reports", "__pycache__"}
    offenders = []
    for path in ROOT.rglob("*"):
        if not path.is_file() or skip & set(path.relative_to(ROOT).parts):
            continue
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".j2", ".cfg", ""}:
            continue
        if path.name == "run" and path.parent.name == ".ci":
            continue  # describes where CI checks the repository out, not a document
        if path == Path(__file__) or ".egg-info" in str(path):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if pattern.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
