"""The package layers import downward only (ui -> agent -> tools -> pipelines) and no module imports
itself back through others: every import statement of agent/, tools/, pipelines/ and ui/ is read
(function-level, lazy imports included) and the module graph is walked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("pipelines", "tools", "agent", "ui")  # lowest first


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its source."""
    modules = {module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            # "from tools import x" names the submodule tools.x when there is one, else the package
            targets |= {c for c in candidates if c in modules and c != name}
        # a module inside a package also runs the package's __init__, which is not a dependency edge
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def test_the_walk_sees_the_modules_and_their_lazy_imports():
    graph = import_graph()
    assert {"tools.render", "tools.diffusion_render", "pipelines.studio", "agent.graph", "ui.cli"} <= set(graph)
    # render_shot imports its engines inside the function: the walk must see that edge
    assert "tools.diffusion_render" in graph["tools.render"]


def test_no_import_cycle_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_upward_across_layers(layer):
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{module} imports {target}" for module, targets in import_graph().items()
                    if module.split(".")[0] == layer for target in targets
                    if rank[target.split(".")[0]] > rank[layer])
    assert not upward, "; ".join(upward)
