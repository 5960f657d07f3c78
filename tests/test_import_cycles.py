"""No import cycles in src/imagegate, between modules or between packages.

The import graph is read from the source with ``ast``, every module of the package, and
every import in it wherever it stands: at module level, inside functions (a lazy import
hides a cycle from the import system, not from the design), and inside
``if TYPE_CHECKING:`` blocks (a type-only import still makes one module written in terms
of the other, and moving an import there is the same workaround as making it lazy).

- Modules: A → B when A imports B, a name from B, or a submodule of B; and A → every
  package B sits in, whose ``__init__`` runs first. A package's ``__init__`` importing
  its own submodules is no edge of the package: that is how a package presents its
  surface. But importing a package runs its ``__init__``, so a module *outside* the
  package that imports it (or anything in it) also reaches every submodule that
  ``__init__`` imports, and on through the subpackages among them: ``_engine`` importing
  ``imagegate.guards`` reaches ``imagegate.guards._guard``, and a cycle back from there
  shows. A module *inside* the package does not: its package's ``__init__`` is already
  running when it loads, and its sibling imports are plain module edges of its own (so
  ``guards._guard`` is not in a cycle with ``guards._pipeline`` through ``guards``).
- Packages: P → Q when a module of P imports a module of Q, unless one package holds
  the other (the root package holds the router, above everything, and the errors, below
  everything). A cycle that runs through a package's ``__init__`` shows here: the one
  between ``imagegate.state`` and ``imagegate.resilience`` was held apart only by a lazy
  import in ``state/__init__``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping, Set
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Cycles that exist and are known, each the set of modules (or packages) it runs through.
# The list can only shrink: a new cycle fails, and so does an entry whose cycle is gone.
KNOWN_MODULE_CYCLES: list[frozenset[str]] = []
KNOWN_PACKAGE_CYCLES: list[frozenset[str]] = []


@functools.cache
def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of imagegate by dotted name: its file and whether it is a package."""
    modules = {}
    for path in (SRC / "imagegate").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


def _package_of(name: str, modules: Mapping[str, tuple[Path, bool]]) -> str:
    return name if modules[name][1] else name.rpartition(".")[0]


def _inside(name: str, package: str) -> bool:
    return name.startswith(package + ".")


def _within(name: str, package: str) -> bool:
    return name == package or _inside(name, package)


def _names(name: str, node: ast.AST, modules: Mapping[str, tuple[Path, bool]]) -> list[str]:
    """The dotted names an import statement in module ``name`` may load."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the package, one level up per extra dot
        anchor = _package_of(name, modules).split(".")
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _imported(name: str, tree: ast.AST, modules: Mapping[str, tuple[Path, bool]]) -> Iterator[str]:
    """The imagegate modules ``name`` imports, and the packages they sit in."""
    for node in ast.walk(tree):
        for target in _names(name, node, modules):
            while target:
                if target in modules:
                    yield target
                target = target.rpartition(".")[0]


@functools.cache
def _direct() -> dict[str, set[str]]:
    """Module → every imagegate module its source imports (and their packages)."""
    modules = _modules()
    direct: dict[str, set[str]] = {}
    for name, (path, _) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        direct[name] = set(_imported(name, tree, modules)) - {name}
    return direct


def _presented(package: str, direct: Mapping[str, Set[str]]) -> set[str]:
    """The submodules importing ``package`` from outside loads: those its ``__init__``
    imports, and theirs in turn for the subpackages among them."""
    modules = _modules()
    found: set[str] = set()
    todo = [package]
    while todo:
        current = todo.pop()
        for target in direct[current]:
            if _inside(target, current) and target not in found:
                found.add(target)
                if modules[target][1]:
                    todo.append(target)
    return found


@functools.cache
def module_graph() -> dict[str, set[str]]:
    """Module → the modules it imports (see the module docstring for the edges); read
    once per test run, not to be changed."""
    modules = _modules()
    direct = _direct()
    graph: dict[str, set[str]] = {}
    for name, (_, is_package) in modules.items():
        edges = {t for t in direct[name] if not (is_package and _inside(t, name))}
        for target in list(edges):
            if modules[target][1] and not _within(name, target):
                edges |= _presented(target, direct)
        graph[name] = edges - {name}
    return graph


def package_graph(graph: Mapping[str, Set[str]]) -> dict[str, set[str]]:
    """Package → the packages its modules import, neither holding the other."""
    modules = _modules()
    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        source = _package_of(name, modules)
        edges = packages.setdefault(source, set())
        for target in targets:
            package = _package_of(target, modules)
            if not (package == source or _inside(package, source) or _inside(source, package)):
                edges.add(package)
    return packages


def cycles(graph: Mapping[str, Set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def path_round(component: Set[str], graph: Mapping[str, Set[str]]) -> list[str]:
    """One cycle through ``component``, as the list of nodes it passes (for messages)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{sorted(component)} is not a cycle")


def _check(graph: Mapping[str, Set[str]], known: list[frozenset[str]]) -> None:
    found = cycles(graph)
    new = [" → ".join(path_round(c, graph)) for c in found if c not in known]
    assert not new, f"import cycles: {new}"
    gone = [sorted(c) for c in known if c not in found]
    assert not gone, f"these known cycles are gone, remove them from the list: {gone}"


def test_no_cycle_between_modules() -> None:
    """No module imports one that imports it back, directly or around a loop."""
    _check(module_graph(), KNOWN_MODULE_CYCLES)


def test_no_cycle_between_packages() -> None:
    """No package imports one that imports it back (e.g. state ⇄ resilience)."""
    _check(package_graph(module_graph()), KNOWN_PACKAGE_CYCLES)


def test_state_imports_nothing_from_the_primitives() -> None:
    """imagegate.state sits below imagegate.resilience: the primitives bring their codecs
    to the backends, the backends know none of them."""
    graph = module_graph()
    state = [name for name in graph if _within(name, "imagegate.state")]
    assert "imagegate.state.redis" in state
    for name in state:
        assert not [t for t in graph[name] if _within(t, "imagegate.resilience")], name


def test_the_checks_see_a_lazy_cycle() -> None:
    """The graph sees imports inside functions, and a package cycle through an __init__."""
    graph = {
        "pkg_a": {"pkg_b.user"},  # e.g. a lazy import in pkg_a/__init__.py
        "pkg_b.user": {"pkg_a"},
    }
    assert cycles(graph) == [frozenset({"pkg_a", "pkg_b.user"})]
    assert path_round(frozenset(graph), graph) == ["pkg_a", "pkg_b.user", "pkg_a"]
    tree = ast.parse("def later():\n    from imagegate.state import redis\n")
    modules = _modules()
    assert set(_imported("imagegate.errors", tree, modules)) == {
        "imagegate",
        "imagegate.state",
        "imagegate.state.redis",
    }


def test_an_import_of_a_package_reaches_what_its_init_imports() -> None:
    """Importing a package from outside runs its ``__init__``, and so its submodules;
    from inside, the package's own imports of its siblings are no edge."""
    graph = module_graph()
    assert "imagegate.guards._pipeline" in graph["imagegate._engine"]
    assert "imagegate.guards._guard" in graph["imagegate._engine"]
    assert "imagegate.guards" in graph["imagegate.guards._load"]
    assert "imagegate.guards._pipeline" not in graph["imagegate.guards._load"]
