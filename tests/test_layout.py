"""The package's shape: no import circle, no reaching into another package's private modules,
imports only pointing downwards, and a light ``import filestore_vfs``.

Every ``import`` statement counts, including those inside functions and under
``TYPE_CHECKING``: a circle that only type checkers or a late call see is still a circle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import filestore_vfs

PACKAGE = Path(filestore_vfs.__file__).parent
TOP = "filestore_vfs"

#: Which top-level sub-packages each one may import (the layers of DESIGN.md; ``vfs``
#: includes ``vfs.backends``). ``""`` is ``filestore_vfs/__init__.py`` itself.
ALLOWED = {
    "": {"vfs"},
    "vfs": set(),
    "areadetector": {"vfs"},
    "handlers": {"vfs"},
    "tiled": {"vfs"},
    "check": {"vfs", "handlers"},
    "cli": {"vfs", "areadetector", "handlers", "tiled", "check"},
}

#: Optional dependencies of the backends: ``import filestore_vfs`` must import none of them.
HEAVY = ("s3fs", "adlfs", "redis", "aiohttp", "paramiko", "asyncssh", "smbprotocol")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every filestore_vfs module ``name`` imports, with the line (relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:  # ``from . import x``: x may be a module
                if f"{module}.{alias.name}" in MODULES:
                    yield f"{module}.{alias.name}", node.lineno
                elif alias.name.startswith("_"):
                    yield f"{module}:{alias.name}", node.lineno  # a private name


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        graph[name] = {
            target
            for target, _ in _imports(name, path)
            if target in MODULES and target != name and not name.startswith(f"{target}.")
        }
    return graph


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _private(module: str) -> bool:
    """A module or name whose path has a component ``_x`` (dunders such as ``__all__`` are not)."""
    return any(p.startswith("_") and not p.endswith("__") for p in module.split("."))


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_module_of_another_package() -> None:
    bad = []
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            module = target.split(":")[0]
            if not module.startswith(f"{TOP}.") and module != TOP:
                continue
            if _subpackage(module) == _subpackage(name):
                continue
            if _private(target.replace(":", ".")):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not bad, "private imports across packages:\n" + "\n".join(bad)


def test_imports_point_downwards() -> None:
    bad = []
    for name, path in MODULES.items():
        here = _subpackage(name)
        where = f"{path.relative_to(PACKAGE.parent)}"
        for target, line in _imports(name, path):
            module = target.split(":")[0]
            if module == TOP and here:
                bad.append(f"{where}:{line} ({here}) imports {TOP} itself")
            elif module.startswith(f"{TOP}."):
                there = _subpackage(module)
                if there != here and there not in ALLOWED[here]:
                    bad.append(f"{where}:{line} ({here}) imports {module}")
            elif module.split(".")[0] == "sim_iocs" and here != "cli":
                bad.append(f"{where}:{line} ({here}) imports sim_iocs")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_core_reaches_backends_through_public_names() -> None:
    """The core (``vfs`` outside ``vfs.backends``) uses the backends' public modules only."""
    backends = f"{TOP}.vfs.backends"
    bad = []
    for name, path in MODULES.items():
        if not name.startswith(f"{TOP}.vfs") or name.startswith(backends):
            continue
        for target, line in _imports(name, path):
            inside = target.replace(":", ".")[len(backends) :]
            if target.startswith(backends) and _private(inside):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not bad, "the core imports private backend modules:\n" + "\n".join(bad)


def test_every_subpackage_has_a_layer() -> None:
    assert {_subpackage(m) for m in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize("module", ["filestore_vfs", "filestore_vfs.vfs"])
def test_import_is_light(module: str) -> None:
    code = f"import sys, {module}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stdout.split() == [], f"import {module} imported {proc.stdout.strip()}"


def _os_error_names() -> set[str]:
    import builtins

    return {
        name
        for name in dir(builtins)
        if isinstance(getattr(builtins, name), type)
        and issubclass(getattr(builtins, name), OSError)
    }


def test_no_os_error_with_a_magic_errno() -> None:
    """``IsADirectoryError(21, ...)`` hides what 21 means: the errors module's constructors
    (``is_a_directory(...)``) or an ``errno`` constant say it."""
    names = _os_error_names()
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            first = node.args[0] if node.args else None
            if (
                node.func.id in names
                and isinstance(first, ast.Constant)
                and type(first.value) is int
            ):
                found.append(f"{name}:{node.lineno} {node.func.id}({first.value}, ...)")
    assert not found, found


def test_no_private_module_of_sim_iocs() -> None:
    """The CLI starts the simulator lazily, through ``sim_iocs``' public names only."""
    found = [
        f"{name}:{line} imports {target}"
        for name, path in MODULES.items()
        for target, line in _imports(name, path)
        if target.startswith("sim_iocs.") and target.split(".")[1].startswith("_")
    ]
    assert not found, found
