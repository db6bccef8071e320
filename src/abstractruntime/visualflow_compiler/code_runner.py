"""Run the Python of VisualFlow ``code`` nodes: restricted by default, always in a child process.

A flow file can come from anywhere, so loading and running it must not run arbitrary Python in the host.
Every call is sent to a worker process (``code_sandbox``/``code_worker``) that runs under OS limits decided
by the host (:class:`~.code_limits.CodeLimits`: CPU seconds, address space, wall clock, result size); the
parent kills it when a limit is hit and the call raises :class:`~.code_errors.CodeNodeLimitError`.

Inside the worker, code runs in a **restricted** mode by default (``code_eval``, ``code_policy``,
``code_guards``), a cheap first line with precise errors:

* the source is parsed with :mod:`ast` and every syntax node is checked against a whitelist (functions, loops,
  ``if``/``try``/``except``, assignments, comprehensions, f-strings, literals and operators; no classes, no
  ``with``, no ``global``, no ``finally``, no bare ``except``, no async, no decorators);
* names starting with ``__`` are refused, as are ``eval``/``exec``/``open``/``getattr``/... ; the only
  builtins are a safe list (``len``, ``str``, ``int``, ``isinstance``, ``sorted``, ``range`` ...);
  ``import json``/``import math`` bind small safe namespaces, any other import is refused;
* every attribute access goes through a checker that allows only a list of plain methods of ``str``,
  ``list``, ``dict``, ``set``, ``tuple`` and numbers (``str.format`` refuses attribute lookups in fields);
* ``*``, ``**``, ``<<`` and ``+`` refuse results that would exceed size limits (memory bombs);
* the code runs under a step budget and a wall-clock budget enforced by a trace function.

``allow_unsafe=True`` is an explicit opt-in for trusted flows: the code runs as plain Python via ``exec``
with the normal builtins and no budget, still in the worker under the OS limits.  Inputs and results cross
the process boundary as JSON.  See ``docs/visualflow-code-nodes.md``.
"""

from __future__ import annotations

from typing import Any

from .code_errors import CodeNodeError
from .code_eval import CodeFailure, prepare, validate_tree
from .code_limits import DEFAULT_MAX_STEPS, DEFAULT_TIMEOUT_S, CodeLimits, host_code_limits
from .code_sandbox import call_worker

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TIMEOUT_S",
    "code_from_node_data",
    "evaluate_expression",
    "run_code_node",
    "validate_code",
]


def code_from_node_data(node_data: dict[str, Any]) -> str:
    """The source of a code node: ``data.code`` (full source), else ``data.codeBody``, else ``""``."""
    for key in ("code", "codeBody"):
        value = node_data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def validate_code(code: str) -> None:
    """Check that ``code`` parses and uses only what the restricted mode allows; raise CodeNodeError if not.

    Only parses and walks the syntax tree (nothing is executed), so it runs in the calling process.
    """
    try:
        validate_tree(prepare(code, {}))
    except CodeFailure as exc:
        raise CodeNodeError(exc.message, kind=exc.kind) from exc  # type: ignore[arg-type]
    except (MemoryError, RecursionError):  # the parser's own stack limit (``-`` repeated 100,000 times)
        raise CodeNodeError("code node is too deeply nested to parse", kind="syntax") from None


def _budgets(limits: CodeLimits, max_steps: int | None, timeout_s: float | None) -> dict[str, Any]:
    """The in-process budget: the caller's values, never beyond the host limits (steps; 90% of the wall)."""
    steps = limits.max_steps if max_steps is None else min(max_steps, limits.max_steps)
    seconds = limits.trace_timeout_s if timeout_s is None else min(timeout_s, limits.trace_timeout_s)
    return {"max_steps": steps, "timeout_s": seconds}


def run_code_node(
    *,
    code: str,
    function_name: str | None,
    inputs: dict[str, Any],
    allow_unsafe: bool = False,
    max_steps: int | None = None,
    timeout_s: float | None = None,
    node_id: str | None = None,
    limits: CodeLimits | None = None,
) -> Any:
    """Run a code node's function with ``inputs`` in the code worker and return what it returns.

    The function is ``function_name`` when the code defines it, else ``transform`` (what the published flows
    use), else the last top-level ``def``. It is called with one argument, the dict of input pins (a JSON
    copy); a function with no parameter is called without arguments, one with several named parameters gets
    them by name. Code without any ``def`` (a bare body) runs as ``transform(_input)`` with each input pin also
    bound as a local variable; a single bare expression is returned.

    ``limits`` are the host's OS limits (default :func:`~.code_limits.host_code_limits`: the configured
    object, else the environment, else the documented defaults); ``max_steps`` / ``timeout_s`` (seconds)
    may only tighten the in-process budget of restricted code.  ``allow_unsafe=True`` runs the code as real
    Python, unchecked but still under the OS limits: only for flows you trust.

    Raises:
        CodeNodeLimitError: a budget or OS limit was hit (also a CodeNodeError with ``kind="budget"``).
        CodeNodeError: every other failure, including inputs or a result that are not JSON-safe.
    """
    if not isinstance(code, str) or not code.strip():
        raise CodeNodeError("code node has no code", kind="syntax", node_id=node_id)
    limits = limits if limits is not None else host_code_limits()
    request = {
        "op": "run",
        "code": code,
        "function_name": function_name,
        "inputs": inputs if isinstance(inputs, dict) else {},
        "unsafe": bool(allow_unsafe),
        **_budgets(limits, max_steps, timeout_s),
    }
    return call_worker(request, limits, unsafe=bool(allow_unsafe), node_id=node_id)


def evaluate_expression(
    expression: str,
    variables: dict[str, Any],
    *,
    max_steps: int | None = None,
    timeout_s: float | None = None,
    limits: CodeLimits | None = None,
) -> Any:
    """Evaluate one restricted Python expression (same rules as restricted code nodes) over ``variables``,
    in the code worker under ``limits`` (as for :func:`run_code_node`).

    Variables whose names start with ``__`` are ignored. Raises :class:`CodeNodeError` on any failure.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise CodeNodeError("empty expression", kind="syntax")
    limits = limits if limits is not None else host_code_limits()
    request = {
        "op": "eval",
        "expression": expression,
        "variables": variables if isinstance(variables, dict) else {},
        **_budgets(limits, max_steps, timeout_s),
    }
    return call_worker(request, limits, unsafe=False, node_id=None)
