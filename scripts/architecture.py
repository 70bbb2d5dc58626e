"""Figures of the code's shape, for a closing note or a review: package cycles, imports
against the layers, the longest functions, the largest modules and the uses of ``Any``.

    .venv/bin/python scripts/architecture.py [ROOT]

ROOT is a checkout (default: this one); run it on an older commit's worktree to compare.
The layers are those of pyproject.toml's import-linter contracts (README, "Architecture"):
a module may import its own package's modules and those of lower layers only; gateway,
verification and firmware_sim never each other; firmware_sim and mobile_app at most the
core. Function-level imports count: grimp reads every import statement.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import grimp

PACKAGES = ("core", "persistence", "gateway", "verification", "firmware_sim", "mobile_app", "mrv")
LAYERS = {  # prefix: rank (higher may import lower)
    "core": 0,
    "persistence": 1,
    "gateway": 2,
    "verification": 2,
    "firmware_sim": 2,
    "mobile_app": 2,
    "mrv.api": 3,
    "mrv.demo": 3,
    "mrv.broker_auth": 3,
    "mrv.cli": 4,
    "mrv": 4,  # anything else directly in mrv counts as the edge
}
APPS = ("gateway", "verification", "firmware_sim", "mobile_app")  # independent of each other
ON_CORE_ONLY = ("firmware_sim", "mobile_app")


def group(module: str) -> str:
    """The longest LAYERS prefix of ``module``."""
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return max(matches, key=len)


def allowed(importer: str, imported: str) -> bool:
    a, b = group(importer), group(imported)
    if a == b:
        return True
    if a in ON_CORE_ONLY:
        return b == "core"
    if a in APPS and b in APPS:
        return False
    return LAYERS[b] < LAYERS[a]


def strongly_connected(edges: dict[str, set[str]], nodes: Iterable[str]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of nodes that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                groups.append(sorted(members))
    return groups


def import_figures(root: Path) -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    forbidden = [
        (a, b)
        for a in sorted(graph.modules)
        for b in sorted(graph.find_modules_directly_imported_by(a))
        if not allowed(a, b)
    ]
    print(f"imports against the layers: {len(forbidden)}")
    for a, b in forbidden:
        print(f"  {a} -> {b}")
    cycles = sibling_cycles(graph)
    print(f"package cycles: {len(cycles)}")
    for parent, members in cycles:
        print(f"  in {parent}: " + " <-> ".join(members))


def sibling_cycles(graph: grimp.ImportGraph) -> list[tuple[str, list[str]]]:
    """Cycles among the children of each package (its modules and its subpackages, each
    subpackage taken whole), and among the top-level packages: import-linter's
    acyclic-siblings rule, applied at every depth."""
    children: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        parts = module.split(".")
        for depth in range(len(parts)):
            children[".".join(parts[:depth])].add(".".join(parts[: depth + 1]))
    found: list[tuple[str, list[str]]] = []
    for parent, kids in sorted(children.items()):
        if len(kids) < 2:
            continue
        depth = len(parent.split(".")) if parent else 0

        def child(module: str, depth: int = depth) -> str:
            return ".".join(module.split(".")[: depth + 1])

        edges: dict[str, set[str]] = defaultdict(set)
        for a in graph.modules:
            if a not in kids and not any(a.startswith(k + ".") for k in kids):
                continue
            for b in graph.find_modules_directly_imported_by(a):
                ca, cb = child(a), child(b)
                if ca != cb and ca in kids and cb in kids:
                    edges[ca].add(cb)
        for members in strongly_connected(edges, kids):
            if len(members) > 1:
                found.append((parent or "(top level)", members))
    return found


def _is_any(node: ast.AST) -> bool:
    """``Any`` or ``typing.Any`` used in code (its import is not a use)."""
    if isinstance(node, ast.Name):
        return node.id == "Any"
    return isinstance(node, ast.Attribute) and node.attr == "Any"


def code_figures(root: Path) -> None:
    functions: list[tuple[int, str]] = []
    modules: list[tuple[int, str]] = []
    anys = 0
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            if "migrations/versions" in file.as_posix():
                continue  # generated by Alembic
            text = file.read_text(encoding="utf-8")
            name = file.relative_to(root).as_posix()
            modules.append((len(text.splitlines()), name))
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    functions.append((length, f"{name}:{node.lineno} {node.name}"))
                elif _is_any(node):
                    anys += 1
    functions.sort(reverse=True)
    modules.sort(reverse=True)
    print("longest functions:")
    for length, where in functions[:8]:
        print(f"  {length:4d} {where}")
    over = {p: sum(1 for n, w in functions if n > 60 and w.startswith(p + "/")) for p in PACKAGES}
    print("functions over 60 lines: " + ", ".join(f"{p} {n}" for p, n in over.items()))
    print("largest modules:")
    for length, name in modules[:5]:
        print(f"  {length:4d} {name}")
    print(f"Any (uses, imports not counted): {anys}")


def main(argv: list[str]) -> None:
    root = Path(argv[0] if argv else Path(__file__).resolve().parent.parent).resolve()
    sys.path.insert(0, str(root))
    import_figures(root)
    code_figures(root)


if __name__ == "__main__":
    main(sys.argv[1:])
