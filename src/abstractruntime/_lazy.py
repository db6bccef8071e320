"""Lazy package exports (PEP 562): a package names its exports, the modules load on first access.

A package ``__init__`` that re-exports names from heavy submodules declares them here instead of
importing them, so ``import abstractruntime`` loads only the kernel (``docs/performance.md``, "Import
cost").  Usage, in the package ``__init__``::

    from typing import TYPE_CHECKING
    from ._lazy import lazy_exports

    if TYPE_CHECKING:  # static typing and IDEs see the real imports
        from .scheduler import Scheduler

    __all__ = ["Scheduler"]
    __getattr__, __dir__ = lazy_exports(__name__, globals(), {".scheduler": ("Scheduler",)})

The first ``package.Scheduler`` (or ``from package import Scheduler``) imports the submodule and
stores the object in the package namespace, so later accesses are plain attribute lookups and every
access returns the very object the submodule defines (``isinstance``, pickling and identity are
unchanged).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    sources: Mapping[str, Iterable[str]],
    *,
    submodules: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build the module-level ``__getattr__`` and ``__dir__`` of a package with lazy exports.

    Args:
        package: the package's ``__name__`` (``"abstractruntime.storage"``).
        namespace: the package's ``globals()``; a resolved name is stored there.
        sources: ``{module: names}``, where ``module`` is relative to ``package`` (``".sqlite"``) or
            absolute, and ``names`` are attributes of that module exported by the package.
        submodules: submodule names that ``package.<name>`` imports on access without an explicit
            ``import package.<name>`` (for packages that used to import them eagerly).

    Returns:
        ``(__getattr__, __dir__)`` to assign at module level.  ``__getattr__(name)`` raises
        ``AttributeError`` for a name that is neither exported nor a listed submodule; ``__dir__()``
        lists the namespace, every export and every listed submodule.

    Raises:
        ValueError: a name is exported by two modules.
    """
    origin: dict[str, str] = {}
    for module, names in sources.items():
        for name in names:
            if name in origin:
                raise ValueError(f"{package}: {name!r} is exported by {origin[name]} and {module}")
            origin[name] = module
    lazy_submodules = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        module = origin.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module, package), name)
        elif name in lazy_submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(origin) | lazy_submodules)

    return __getattr__, __dir__
