"""The shape of the package: layers import only downward, the public surface is explicit, modules stay small."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import loopline

SRC = Path(loopline.__file__).resolve().parent

# Lowest first. A module may import its own layer and any layer listed before it; `errors` is shared by all,
# `_lazy` (package attributes loaded on first use) by the package roots.
LAYERS = ["errors", "_lazy", "messages", "tools", "providers", "context", "loop", "store", "threads", "agent", "cli",
          "testing"]
PACKAGES = ["loopline", *(f"loopline.{name}" for name in LAYERS if name != "errors")]


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] != "loopline" or len(parts) < 2:
        return len(LAYERS)  # the package root re-exports everything
    return LAYERS.index(parts[1])


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.append(".".join([*base, node.module] if node.module else base))
            elif node.module and node.module.startswith("loopline"):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("loopline"))
    return found


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_imports_flow_downward(path: Path) -> None:
    module = _module_name(path)
    if module == "loopline":
        return
    upward = [m for m in _imports(path) if _layer(m) > _layer(module)]
    assert upward == [], f"{module} imports a higher layer: {upward}"


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 600


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
