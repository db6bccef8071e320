"""``AbstractCoreToolExecutor``: tool calls run through AbstractCore's global tool registry (SPEC §11.3).

Register tools with AbstractCore (``abstractcore.tools.registry.get_registry().register(func)``, or its
``register_tool``), then let the local and hybrid runtimes (``create_local_runtime``, ``create_hybrid_runtime``)
run the model's tool calls in this process::

    from abstractcore.tools.registry import get_registry
    from abstractruntime.integrations.abstractcore.tool_executor import AbstractCoreToolExecutor

    def add(a: int, b: int) -> int:
        return a + b

    get_registry().register(add)
    AbstractCoreToolExecutor(timeout_s=30).execute(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}])
    # {"mode": "executed", "results": [{"name": "add", "success": True, "output": 3, ...}]}

The registry does the argument work (canonical names and schema-driven type coercion) and turns failure-shaped
outputs into errors; results have the same shape as :class:`~.tool_executor.MappingToolExecutor`'s.  Needs the
``abstractcore`` extra: without it the constructor raises :class:`~abstractruntime.errors.MissingExtraError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._abstractcore import import_abstractcore_module
from ._tool_args import call_with_timeout, parse_arguments, tool_result

__all__ = ["AbstractCoreToolExecutor"]


class AbstractCoreToolExecutor:
    """Runs each call with the tool of that name in AbstractCore's global registry (looked up per call, so
    tools registered after the runtime was built are found).

    Args:
        timeout_s: per-call time limit in seconds; the call runs in a daemon thread that is abandoned (not
            killed) when the limit passes.  None, 0 or less means no limit.

    Per call: an unknown name gives ``Tool '<n>' not found``; a timeout gives ``Tool '<n>' timed out after
    <t>s``; otherwise the registry's ``ToolResult`` (``success``, ``output``, ``error``) is returned as is.

    Raises:
        MissingExtraError: the ``abstractcore`` package is not installed.
    """

    def __init__(self, *, timeout_s: float | None = None) -> None:
        registry_module = import_abstractcore_module(
            "abstractcore.tools.registry", feature="AbstractCoreToolExecutor"
        )
        self._registry: Any = registry_module.get_registry()
        self._tool_call_type: Any = import_abstractcore_module(
            "abstractcore.tools.core", feature="AbstractCoreToolExecutor"
        ).ToolCall
        self._timeout_s = timeout_s

    @property
    def timeout_s(self) -> float | None:
        """The per-call time limit in seconds (None: no limit)."""
        return self._timeout_s

    def set_timeout_s(self, timeout_s: float | None) -> None:
        """Change the per-call time limit (None, 0 or less: no limit)."""
        self._timeout_s = timeout_s

    @property
    def _tools(self) -> dict[str, Callable[..., Any]]:
        """``{name: function}`` of the registry's tools right now (read for the tool specs sent to the model)."""
        return {
            d.name: d.function for d in self._registry.list_tools() if callable(getattr(d, "function", None))
        }

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools registered with AbstractCore, sorted."""
        return sorted(self._tools)

    def is_idempotent(self, name: str) -> bool:
        """True when the registered function has the attribute ``idempotent = True`` (safe to re-run after a
        crash mid-batch; ``docs/llm.md``, "In-doubt calls")."""
        definition = self._registry.get_tool(name)
        return getattr(getattr(definition, "function", None), "idempotent", False) is True

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Run every call in order; always ``{"mode": "executed", "results": [...]}`` (one per call)."""
        return {"mode": "executed", "results": [self._run_one(call) for call in tool_calls]}

    def _run_one(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, Mapping):
            return tool_result({}, success=False, error="Invalid tool call (not an object)")
        name = call.get("name")
        if not isinstance(name, str) or self._registry.get_tool(name) is None:
            return tool_result(call, success=False, error=f"Tool '{name}' not found")
        call_id = call.get("call_id") or call.get("id")
        request = self._tool_call_type(
            name=name, arguments=parse_arguments(call.get("arguments")), call_id=call_id
        )
        try:
            outcome = call_with_timeout(
                self._registry.execute_tool, {"tool_call": request}, timeout_s=self._timeout_s, name=name
            )
        except TimeoutError as exc:
            return tool_result(call, success=False, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a failing tool is a failed result, not a failed run
            return tool_result(call, success=False, error=f"{type(exc).__name__}: {exc}")
        success = bool(getattr(outcome, "success", False))
        error = getattr(outcome, "error", None)
        return tool_result(
            call,
            success=success,
            output=getattr(outcome, "output", None),
            error=None if success else str(error or f"Tool '{name}' failed"),
        )
