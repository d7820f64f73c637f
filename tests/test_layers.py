"""The package's layers hold: a module imports only modules of its own layer or of a lower one,
and no module imports, even from inside a function, a module that imports it back.

Layers, from the bottom: `dsl` (the language) < `engine` < the embedding API
(`clausewise/__init__.py`, and `clausewise/batch/` behind `Engine.evaluate_batch`) < `log` (the
decision log) < `authoring` (test, verify, impact, lock, SARIF, diff) < `server` <
`distributed` (`clausewise/distributed/`, `clausewise.spark`, `clausewise.dask`) < `cli`.

Every import statement counts: at module level, inside functions (imports made late to save
start-up time still tie the two modules together), and under `if TYPE_CHECKING:` (a lower layer
that names a higher one's types depends on it). A package's own `__init__` being run before its
submodules is not an import edge.

`python tests/test_layers.py` prints the module graph's cycles and upward imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "clausewise"
LAYERS = ("dsl", "engine", "api", "log", "authoring", "server", "distributed", "cli")
# top-level modules that are not packages of their own, by layer
MODULE_LAYERS = {
    "clausewise": "api",
    "clausewise.spark": "distributed",
    "clausewise.dask": "distributed",
}
# packages that belong to a layer named otherwise
PACKAGE_LAYERS = {"batch": "api"}


@dataclass(frozen=True)
class Edge:
    """`importer` imports `imported` at `file:line`."""

    importer: str
    imported: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.importer} imports {self.imported}"


Graph = Mapping[str, list[Edge]]


def modules_of(package: Path) -> dict[str, tuple[Path, bool]]:
    """Every module under `package`: dotted name -> (file, whether it is a package)."""
    out = {}
    for f in sorted(package.rglob("*.py")):
        parts = [package.name, *f.relative_to(package).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (f, is_package)
    return out


def _resolve(name: str, modules: Mapping[str, object]) -> str | None:
    """The module `name` is, or that holds `name` (None when outside the package)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None


def imports_of(
    module: str, file: Path, is_package: bool, modules: Mapping[str, object]
) -> Iterator[Edge]:
    """The package modules `module` imports, from every import statement in its file."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    here = module.split(".") if is_package else module.split(".")[:-1]
    shown = str(file.relative_to(file.parents[len(module.split(".")) - (0 if is_package else 1)]))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                if len(base) < 1 or node.level - 1 > len(here):
                    raise ValueError(f"{shown}:{node.lineno}: relative import beyond the package")
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from pkg import sub` imports the module pkg.sub; `from mod import name`, mod
            names = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
                for a in node.names
            ]
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                yield Edge(module, target, shown, node.lineno)


def import_graph(package: Path = PACKAGE) -> dict[str, list[Edge]]:
    modules = modules_of(package)
    # one edge per importing line and imported module (`from m import a, b` is one)
    return {m: list(dict.fromkeys(imports_of(m, f, p, modules))) for m, (f, p) in modules.items()}


def layer_of(module: str) -> str:
    if module in MODULE_LAYERS:
        return MODULE_LAYERS[module]
    layer = module.split(".")[1]
    layer = PACKAGE_LAYERS.get(layer, layer)
    if layer == "api":
        return layer
    if layer not in LAYERS or layer == "api":
        raise ValueError(f"{module} is in no layer: put it in a layer's package")
    return layer


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(e.imported for e in graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(e.imported for e in graph.get(w, []))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def problems(graph: Graph) -> list[str]:
    """What breaks the layers: each upward import, and each cycle with the imports that close it."""
    out = []
    for edges in graph.values():
        for e in edges:
            low, high = layer_of(e.importer), layer_of(e.imported)
            if LAYERS.index(high) > LAYERS.index(low):
                out.append(f"{e} ({high}), a layer above {low}")
    for component in cycles(graph):
        members = set(component)
        inside = [str(e) for m in component for e in graph[m] if e.imported in members]
        out.append(f"import cycle among {', '.join(component)}:\n    " + "\n    ".join(inside))
    return out


def _graph(edges: Iterable[tuple[str, str]]) -> dict[str, list[Edge]]:
    graph: dict[str, list[Edge]] = {}
    for line, (a, b) in enumerate(edges, 1):
        graph.setdefault(a, []).append(Edge(a, b, a.replace(".", "/") + ".py", line))
        graph.setdefault(b, [])
    return graph


def test_the_layers_hold_and_no_module_imports_one_that_imports_it_back() -> None:
    found = problems(import_graph())
    assert not found, "\n".join(found)


def test_every_module_is_in_a_layer() -> None:
    for module in modules_of(PACKAGE):
        assert layer_of(module) in LAYERS


def test_an_upward_import_is_named_with_its_file_and_line() -> None:
    graph = import_graph()
    graph["clausewise.dsl.types"].append(
        Edge("clausewise.dsl.types", "clausewise.engine.patterns", "clausewise/dsl/types.py", 7)
    )
    assert [p for p in problems(graph) if p not in problems(import_graph())] == [
        "clausewise/dsl/types.py:7: clausewise.dsl.types imports clausewise.engine.patterns "
        "(engine), a layer above dsl"
    ]
    # the API above the engine, the CLI above everything
    assert problems(_graph([("clausewise.engine.store", "clausewise")])) == [
        "clausewise/engine/store.py:1: clausewise.engine.store imports clausewise (api), "
        "a layer above engine"
    ]
    assert len(problems(_graph([("clausewise.server.app", "clausewise.cli.main")]))) == 1
    assert problems(_graph([("clausewise.cli.main", "clausewise.authoring.diff")])) == []


def test_a_cycle_is_named_with_the_imports_that_close_it() -> None:
    # within one layer, through two modules and through three
    assert problems(
        _graph(
            [
                ("clausewise.engine.store", "clausewise.engine.checkpool"),
                ("clausewise.engine.checkpool", "clausewise.engine.store"),
            ]
        )
    ) == [
        "import cycle among clausewise.engine.checkpool, clausewise.engine.store:\n"
        "    clausewise/engine/checkpool.py:2: clausewise.engine.checkpool imports clausewise.engine.store\n"
        "    clausewise/engine/store.py:1: clausewise.engine.store imports clausewise.engine.checkpool"
    ]
    three = _graph(
        [
            ("clausewise.dsl.a", "clausewise.dsl.b"),
            ("clausewise.dsl.b", "clausewise.dsl.c"),
            ("clausewise.dsl.c", "clausewise.dsl.a"),
            ("clausewise.dsl.c", "clausewise.dsl.d"),
        ]
    )
    assert cycles(three) == [["clausewise.dsl.a", "clausewise.dsl.b", "clausewise.dsl.c"]]
    assert cycles(_graph([("clausewise.dsl.a", "clausewise.dsl.b")])) == []


def test_imports_are_read_inside_functions_under_type_checking_and_relative(tmp_path: Path) -> None:
    """A package on disk with a cycle closed inside a function and an upward import under
    `TYPE_CHECKING`: both are found, at their lines."""
    pkg = tmp_path / "clausewise"
    for name, text in {
        "__init__.py": "from .engine.store import load\n",
        "dsl/__init__.py": "",
        "dsl/cache.py": "def parse():\n    from .parser import parse as p\n    return p\n",
        "dsl/parser.py": "from . import cache\n",
        "dsl/types.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..engine import store\n",
        "engine/__init__.py": "",
        "engine/store.py": "import clausewise.dsl.types\nfrom ..dsl.parser import cache\n\ndef load(): ...\n",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    graph = import_graph(pkg)
    assert {m: sorted(e.imported for e in es) for m, es in graph.items() if es} == {
        "clausewise": ["clausewise.engine.store"],
        "clausewise.dsl.cache": ["clausewise.dsl.parser"],
        "clausewise.dsl.parser": ["clausewise.dsl.cache"],
        "clausewise.dsl.types": ["clausewise.engine.store"],
        "clausewise.engine.store": ["clausewise.dsl.parser", "clausewise.dsl.types"],
    }
    assert problems(graph) == [
        "clausewise/dsl/types.py:3: clausewise.dsl.types imports clausewise.engine.store "
        "(engine), a layer above dsl",
        "import cycle among clausewise.dsl.cache, clausewise.dsl.parser:\n"
        "    clausewise/dsl/cache.py:2: clausewise.dsl.cache imports clausewise.dsl.parser\n"
        "    clausewise/dsl/parser.py:1: clausewise.dsl.parser imports clausewise.dsl.cache",
        "import cycle among clausewise.dsl.types, clausewise.engine.store:\n"
        "    clausewise/dsl/types.py:3: clausewise.dsl.types imports clausewise.engine.store\n"
        "    clausewise/engine/store.py:1: clausewise.engine.store imports clausewise.dsl.types",
    ]


def test_a_module_outside_every_layer_is_refused() -> None:
    with pytest.raises(ValueError, match=r"clausewise\.helpers is in no layer"):
        problems(_graph([("clausewise.helpers", "clausewise.dsl.ast")]))


if __name__ == "__main__":
    graph = import_graph()
    found = cycles(graph)
    print(
        f"{sum(len(es) for es in graph.values())} imports between {len(graph)} modules; "
        f"{len(found)} import cycle(s)"
    )
    for line in problems(graph):
        print(line)
