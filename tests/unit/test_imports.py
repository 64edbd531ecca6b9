"""crossrank's modules import each other one way: no cycles among top-level imports."""

import ast
from pathlib import Path

import crossrank

ROOT = Path(crossrank.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules of crossrank that ``path`` imports outside functions (type-only ones too)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: set[str] = set()
    body = list(ast.parse(path.read_text()).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks count
            body.extend(node.body + node.orelse)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            name = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            if name and name.startswith("crossrank"):
                if node.module:  # `from . import x` imports x, not the package's __init__
                    found.add(name)
                found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("crossrank"))
    return found


def test_no_import_cycles():
    graph = {_module(path): _top_level_imports(path) for path in ROOT.rglob("*.py")}
    graph = {
        name: {m for m in imports if m in graph and m != name} for name, imports in graph.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            name, path = stack.pop()
            for nxt in graph[name]:
                if nxt == start:
                    return path + [start]
                if nxt not in seen and not nxt.startswith(start + "."):
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [cycle_from(name) for name in graph if not name.endswith("__init__")]
    assert [c for c in cycles if c] == []
