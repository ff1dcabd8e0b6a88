"""The shape of the package: layers import only downward, no package reaches into another's private
modules, no package's modules import each other in a circle, the public surface is explicit, modules stay
small."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

import loopline

SRC = Path(loopline.__file__).resolve().parent

# Lowest first. A module may import its own layer and any layer listed before it. Names are the packages
# and the modules directly under `loopline`; a name with nothing behind it yet holds its place in the order.
LAYERS: list[tuple[str, ...]] = [
    # Bottom-level modules every layer may use; they import nothing of loopline but each other.
    # `errors`: the one error tree. `_lazy`: package attributes loaded on first use (the package roots).
    # `_html`: the pieces every `_repr_html_` is built from. `_validation`: pydantic errors as one line.
    # `_sse`: server-sent events encoded and decoded without I/O. `_http_api`: calling a loopline server's
    # HTTP API (its connection, retries and error answers), which the remote tasks client and workers share.
    ("errors", "_lazy", "_html", "_validation", "_sse", "_http_api"),
    ("messages",),
    ("tools",),
    ("providers",),
    ("context",),
    ("loop",),
    ("store",),
    ("threads",),
    ("agent",),
    # The platform: what runs agents for others (tasks and the workers that take them, executors and task
    # trees, the HTTP server, MCP). Its packages rank equally: they may import each other, but never in a
    # circle (`test_packages_of_one_layer_import_each_other_without_a_circle`).
    ("tasks", "workers", "executors", "server", "mcp"),
    ("cli",),
    ("testing",),
]
NAMES = [name for layer in LAYERS for name in layer]
PRESENT = [name for name in NAMES if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()]
PACKAGES = ["loopline", *(f"loopline.{name}" for name in PRESENT if name != "errors")]


MODULES = sorted(p for p in SRC.rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULE_NAMES = {_module_name(p): p for p in MODULES}


def _package_of(path: Path) -> str:
    """The package a module belongs to: itself for an `__init__`, else the one that holds it."""
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] != "loopline" or len(parts) < 2:
        return len(LAYERS)  # the package root re-exports everything
    rank = next((rank for rank, layer in enumerate(LAYERS) if parts[1] in layer), None)
    assert rank is not None, f"{module}: add `{parts[1]}` to a layer in LAYERS"
    return rank


def _targets(path: Path, nodes: Iterator[ast.AST]) -> Iterator[str]:
    """What the import statements among `nodes` name, absolute: `from ..x import y` gives `loopline.x.y`
    (a module or a name in one; both tell whose module is used)."""
    package = _package_of(path)
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("loopline"):
                module = node.module
            else:
                continue
            yield from (f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("loopline"))


def _imports(path: Path) -> list[str]:
    """Every import of loopline in the module, wherever it stands (in functions, under TYPE_CHECKING)."""
    return list(_targets(path, ast.walk(ast.parse(path.read_text()))))


def _run_at_import(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run when the module is imported: the module body with its `if`/`try`/`with`
    blocks and class bodies, but not function bodies (they run later, once every module is loaded) nor
    `if TYPE_CHECKING:` blocks (they never run)."""
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _run_at_import(node.orelse)
        elif isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.AsyncWith)):
            yield from _run_at_import(node.body)
            yield from _run_at_import(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _run_at_import(block)
        elif isinstance(node, ast.ClassDef):
            yield from _run_at_import(node.body)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _private_module(target: str) -> str | None:
    """The private module (or name) `target` reaches into, up to its first `_` part; `None` when public."""
    parts = target.split(".")
    first = next((i for i, part in enumerate(parts) if part.startswith("_") and i > 0), None)
    return None if first is None else ".".join(parts[: first + 1])


def _cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One circle in `graph` as the path that closes it (`[a, b, a]`), or `None` when there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        for successor in sorted(graph.get(node, ())):
            found = visit(successor, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    return next((found for node in sorted(graph) if (found := visit(node, []))), None)


def test_every_package_and_root_module_has_a_layer() -> None:
    found = {p.name if p.is_dir() else p.stem for p in SRC.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert sorted(found - set(NAMES)) == [], "add each package or root module to a layer in LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_imports_flow_downward(path: Path) -> None:
    module = _module_name(path)
    if module == "loopline":
        return
    upward = [m for m in _imports(path) if _layer(m) > _layer(module)]
    assert upward == [], f"{module} imports a higher layer: {upward}"


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_no_module_imports_another_packages_private_module(path: Path) -> None:
    """A `_module` belongs to its package (and the packages inside it): `loopline._html` is for every
    layer, `loopline.loop._html` only for `loopline.loop`. Other packages use the public names."""
    module, package = _module_name(path), _package_of(path)
    foreign = set()
    for target in _imports(path):
        private = _private_module(target)
        owner = private and private.rsplit(".", 1)[0]
        if owner and package != owner and not package.startswith(owner + "."):
            foreign.add((module, private))
    assert sorted(foreign) == []


@pytest.mark.parametrize("package", [p for p in PACKAGES if (SRC.parent / p.replace(".", "/")).is_dir()])
def test_no_package_imports_its_own_modules_in_a_circle(package: str) -> None:
    """Checked on the imports that run when a module is imported: a circle there fails (or works only in
    one import order) with a partly initialised module. Imports for type checking only and imports inside
    functions run later or never, so they may point back (a record and the module that renders it)."""
    members = {name for name in MODULE_NAMES if name == package or name.rsplit(".", 1)[0] == package}
    members -= {name for name in members if MODULE_NAMES[name].name == "__init__.py" and name != package}
    graph = {}
    for name in members:
        path = MODULE_NAMES[name]
        targets = _targets(path, _run_at_import(ast.parse(path.read_text()).body))
        # `from . import x` names module `x` when there is one, else a name of the package's `__init__`.
        resolved = {t if t in MODULE_NAMES else t.rsplit(".", 1)[0] for t in targets}
        graph[name] = (resolved & members) - {name}
    cycle = _cycle(graph)
    assert cycle is None, f"modules of {package} import each other in a circle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("layer", [layer for layer in LAYERS if len(layer) > 1], ids=lambda layer: layer[0])
def test_packages_of_one_layer_import_each_other_without_a_circle(layer: tuple[str, ...]) -> None:
    graph: dict[str, set[str]] = {name: set() for name in layer}
    for path in MODULES:
        parts = _module_name(path).split(".")
        if len(parts) > 1 and parts[1] in layer:
            graph[parts[1]] |= {t.split(".")[1] for t in _imports(path) if t.count(".")} & set(layer)
    cycle = _cycle({name: targets - {name} for name, targets in graph.items()})
    assert cycle is None, f"packages of one layer import each other in a circle: {' -> '.join(cycle)}"


def test_the_checks_see_what_they_look_for() -> None:
    """The checks above pass on the package; here they fail where they must."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _private_module("loopline.providers._guard.check") == "loopline.providers._guard"
    assert _private_module("loopline.loop.execution_html") is None
    source = ast.parse("from typing import TYPE_CHECKING\nimport a\nif TYPE_CHECKING:\n    import b\n"
                       "def f():\n    import c\nclass K:\n    import d\ntry:\n    import e\nexcept ImportError:\n"
                       "    pass\n")
    run = [alias.name for node in _run_at_import(source.body) if isinstance(node, ast.Import) for alias in node.names]
    assert run == ["a", "d", "e"]


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 500


@pytest.mark.parametrize("name", PACKAGES)
def test_public_surface_is_sorted_and_real(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert [n for n in exported if not hasattr(module, n)] == []
    assert module.__doc__, f"{name} needs a docstring saying what it owns"


def test_top_level_names_from_the_readme() -> None:
    from loopline import (  # noqa: F401
        Agent,
        Execution,
        ExecutionResult,
        ExecutionStatus,
        LLMProvider,
        ToolCall,
        ToolCallResult,
        tool,
    )

    assert [s.name for s in ExecutionStatus] == ["PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"]


def test_the_package_ships_type_information() -> None:
    assert (SRC / "py.typed").exists()
