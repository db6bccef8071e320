"""The kernel imports nothing above it (issue "performance", kernel shape): every import in
``abstractruntime/core`` is the standard library, the kernel itself, or the package's shared leaf modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import abstractruntime.core

CORE = Path(abstractruntime.core.__file__).resolve().parent
ALLOWED_OUTSIDE = {"abstractruntime.errors", "abstractruntime._lazy"}
# The one import of a higher layer: evidence capture loads its recorder inside the function that needs it,
# only when a host configured an artifact store (never at import time).
ALLOWED_LAZY = {"evidence_hook.py: abstractruntime.evidence.recorder"}


def _absolute(module: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = ["abstractruntime", *module.relative_to(CORE.parent).with_suffix("").parts]
    base = parts[: len(parts) - node.level]
    return ".".join([*base, node.module] if node.module else base)


def test_core_imports_only_the_standard_library_and_itself() -> None:
    offenders: list[str] = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [_absolute(path, node)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".", 1)[0]
                if name.startswith("abstractruntime.core") or name in ALLOWED_OUTSIDE:
                    continue
                if top in sys.stdlib_module_names or top == "__future__":
                    continue
                offenders.append(f"{path.relative_to(CORE)}: {name}")
    assert sorted(set(offenders) - ALLOWED_LAZY) == []


def test_the_documented_storage_path_re_exports_the_kernel_ports() -> None:
    from abstractruntime.core import ports
    from abstractruntime.storage import base

    for name in base.__all__:
        assert getattr(base, name) is getattr(ports, name)
