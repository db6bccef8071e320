"""Tool executors: who runs the calls of a TOOL_CALLS effect (SPEC §11.3).

An executor has one method, ``execute(*, tool_calls) -> dict``:

* ``{"mode": "executed", "results": [...]}`` when it ran the calls (one result per call, in order, in the
  standard shape ``{call_id, runtime_call_id, name, success, output, error}``);
* ``{"mode": <other>, "tool_calls": [...], "wait_reason"?, "wait_key"?, "details"?}`` when the calls run
  elsewhere (a client, a worker, a human approval): the TOOL_CALLS handler then parks the run.

Executors here:

* :class:`MappingToolExecutor` — plain Python callables by name, with argument canonicalization
  (:mod:`._tool_args`), failure-shaped outputs turned into errors and an optional per-call timeout;
* :class:`PassthroughToolExecutor` — never runs anything; the run waits for the host to supply results;
* :class:`ApprovalToolExecutor` with :class:`ToolApprovalPolicy` — sends safe batches to a delegate and
  asks a human first for the others (resume with ``{"approved": ...}``, SPEC §4.6);
* :class:`AbstractCoreToolExecutor` — AbstractCore's global tool registry (the ``abstractcore`` extra;
  defined in :mod:`.abstractcore_tools`, which imports AbstractCore only when the executor is built).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from ._tool_args import call_with_timeout, canonical_kwargs, failure_of, parse_arguments, tool_result
from .abstractcore_tools import AbstractCoreToolExecutor

__all__ = [
    "AbstractCoreToolExecutor",
    "DEFAULT_AUTO_APPROVE_TOOLS",
    "DEFAULT_REQUIRE_APPROVAL_TOOLS",
    "ApprovalToolExecutor",
    "MappingToolExecutor",
    "PassthroughToolExecutor",
    "ToolApprovalPolicy",
    "ToolExecutor",
    "tool_result",
]

DEFAULT_AUTO_APPROVE_TOOLS: frozenset[str] = frozenset(
    {
        "list_files",
        "skim_folders",
        "analyze_code",
        "read_file",
        "skim_files",
        "search_files",
        "web_search",
        "skim_websearch",
        "skim_url",
        "fetch_url",
    }
)
"""Tools :class:`ToolApprovalPolicy` runs without asking (SPEC §11.3 lists the Telegram senders here too;
sending a message is an action on someone else's behalf, so they are in the require set instead)."""

DEFAULT_REQUIRE_APPROVAL_TOOLS: frozenset[str] = frozenset(
    {
        "write_file",
        "edit_file",
        "execute_command",
        "send_email",
        "send_whatsapp_message",
        "send_telegram_message",
        "send_telegram_artifact",
    }
)
"""Tools :class:`ToolApprovalPolicy` always asks about (SPEC §11.3); unknown tools are asked about too."""


@runtime_checkable
class ToolExecutor(Protocol):
    """Runs (or defers) a batch of tool calls; see the module docstring for the result shapes."""

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]: ...


def _tool_name(func: Callable[..., Any]) -> str:
    definition = getattr(func, "_tool_definition", None)
    name = getattr(definition, "name", None)
    if isinstance(name, str) and name.strip():
        return name.strip()
    return str(getattr(func, "__name__", "")).strip()


class MappingToolExecutor:
    """Runs each call with the Python callable registered under its name.

    Args:
        tool_map: ``{name: callable}``.
        timeout_s: per-call time limit in seconds; the call runs in a daemon thread and is abandoned
            (not killed) when the limit passes.  None, 0 or less means no limit.
        idempotent_tools: names of tools that are safe to run twice with the same arguments (reads,
            lookups, upserts).  A callable with the attribute ``idempotent = True`` is idempotent too.
            After a crash mid-batch, only these are re-run without asking (``docs/llm.md``,
            "In-doubt calls"); see :meth:`is_idempotent`.

    Per call: arguments are canonicalized (:func:`._tool_args.canonical_kwargs`); an unknown name gives
    ``Tool '<n>' not found``; an exception gives ``<Type>: <message>``; a failure-shaped output (a dict
    with ``success``/``ok`` False, a string starting with ``Error:``, ``❌``, ``🚫``, ``⏰``) gives
    ``success: False`` with that message and the output kept.
    """

    def __init__(
        self,
        tool_map: Mapping[str, Callable[..., Any]],
        *,
        timeout_s: float | None = None,
        idempotent_tools: Iterable[str] | None = None,
    ) -> None:
        self._tools: dict[str, Callable[..., Any]] = dict(tool_map)
        self._timeout_s = timeout_s
        self._idempotent = frozenset(idempotent_tools or ())

    @classmethod
    def from_tools(
        cls,
        tools: Iterable[Callable[..., Any]],
        *,
        timeout_s: float | None = None,
        idempotent_tools: Iterable[str] | None = None,
    ) -> MappingToolExecutor:
        """An executor over ``tools``, each named by ``_tool_definition.name`` or ``__name__``.

        Raises:
            ValueError: two tools share a name, or a tool has no name.
        """
        mapping: dict[str, Callable[..., Any]] = {}
        for func in tools:
            name = _tool_name(func)
            if not name:
                raise ValueError(f"tool {func!r} has no name")
            if name in mapping:
                raise ValueError(f"duplicate tool name {name!r}")
            mapping[name] = func
        return cls(mapping, timeout_s=timeout_s, idempotent_tools=idempotent_tools)

    @property
    def tool_names(self) -> list[str]:
        """The registered tool names, sorted."""
        return sorted(self._tools)

    def is_idempotent(self, name: str) -> bool:
        """True when ``name`` is in ``idempotent_tools`` or its callable has ``idempotent = True``."""
        if name in self._idempotent:
            return True
        func = self._tools.get(name)
        return func is not None and getattr(func, "idempotent", False) is True

    def set_timeout_s(self, timeout_s: float | None) -> None:
        """Change the per-call time limit (None, 0 or less: no limit)."""
        self._timeout_s = timeout_s

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Run every call in order; always ``{"mode": "executed", "results": [...]}``."""
        return {"mode": "executed", "results": [self._run_one(call) for call in tool_calls]}

    def _run_one(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, Mapping):
            return tool_result({}, success=False, error="Invalid tool call (not an object)")
        name = call.get("name")
        func = self._tools.get(name) if isinstance(name, str) else None
        if func is None:
            return tool_result(call, success=False, error=f"Tool '{name}' not found")
        kwargs = canonical_kwargs(func, parse_arguments(call.get("arguments")))
        try:
            output = self._call(func, kwargs)
        except TimeoutError as exc:
            return tool_result(call, success=False, error=str(exc) or f"Tool '{name}' timed out")
        except Exception as exc:  # noqa: BLE001 - a failing tool is a failed result, not a failed run
            return tool_result(call, success=False, error=f"{type(exc).__name__}: {exc}")
        failure = failure_of(output)
        if failure is not None:
            return tool_result(call, success=False, output=output, error=failure)
        return tool_result(call, success=True, output=output)

    def _call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        return call_with_timeout(func, kwargs, timeout_s=self._timeout_s, name=_tool_name(func))


class PassthroughToolExecutor:
    """Runs nothing: every batch comes back as ``{"mode": mode, "tool_calls": [...]}`` so the run waits
    (reason EVENT) until the host resumes it with the results."""

    def __init__(self, *, mode: str = "passthrough") -> None:
        self.mode = mode

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"mode": self.mode, "tool_calls": <copies of the calls>}``."""
        return {"mode": self.mode, "tool_calls": [dict(c) for c in tool_calls if isinstance(c, Mapping)]}


class ToolApprovalPolicy:
    """Which tool batches need a human's approval.

    A batch needs approval when any call has no name, names a tool in ``require_approval_tools``, or names
    a tool not in ``auto_approve_tools`` (unknown tools are asked about).  None means the defaults
    :data:`DEFAULT_AUTO_APPROVE_TOOLS` / :data:`DEFAULT_REQUIRE_APPROVAL_TOOLS`.
    """

    def __init__(
        self,
        *,
        auto_approve_tools: Iterable[str] | None = None,
        require_approval_tools: Iterable[str] | None = None,
    ) -> None:
        self.auto_approve_tools = frozenset(
            DEFAULT_AUTO_APPROVE_TOOLS if auto_approve_tools is None else auto_approve_tools
        )
        self.require_approval_tools = frozenset(
            DEFAULT_REQUIRE_APPROVAL_TOOLS if require_approval_tools is None else require_approval_tools
        )

    def call_requires_approval(self, call: Any) -> bool:
        """True when this one call needs approval."""
        name = call.get("name") if isinstance(call, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            return True
        name = name.strip()
        return name in self.require_approval_tools or name not in self.auto_approve_tools

    def requires_approval(self, calls: Iterable[Any]) -> bool:
        """True when any call of the batch needs approval."""
        return any(self.call_requires_approval(call) for call in calls)

    def describe(self) -> dict[str, Any]:
        """The policy as JSON (sorted lists), shown to the approver in the wait details."""
        return {
            "auto_approve_tools": sorted(self.auto_approve_tools),
            "require_approval_tools": sorted(self.require_approval_tools),
            "unknown_tools": "require_approval",
        }


def _approval_wait_key() -> str:
    return f"tool_approval:{uuid.uuid4().hex}"


class ApprovalToolExecutor:
    """Asks a human before the delegate runs a batch that :class:`ToolApprovalPolicy` flags.

    Args:
        delegate: the executor that really runs the calls.
        policy: the approval policy (default :class:`ToolApprovalPolicy`).
        wait_key_factory: makes the wait key of an approval wait (default ``tool_approval:<hex>``).

    An empty batch (the handler's probe) or a batch needing approval returns ``{"mode":
    "approval_required", "wait_reason": "user", "wait_key", "tool_calls", "details": {"kind":
    "tool_approval", "policy"}}``; a safe batch goes to the delegate.  Register the executor with
    ``Runtime.set_tool_executor_for_resume`` so that resuming with ``{"approved": true}`` runs the calls
    through :meth:`execute_approved`; calls whose arguments the approver edited are re-checked first
    with :meth:`recheck_call`.
    """

    def __init__(
        self,
        *,
        delegate: ToolExecutor,
        policy: ToolApprovalPolicy | None = None,
        wait_key_factory: Callable[[], str] | None = None,
    ) -> None:
        self.delegate = delegate
        self.policy = policy or ToolApprovalPolicy()
        self._wait_key_factory = wait_key_factory or _approval_wait_key

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Defer to a human (see the class docstring) or run a safe batch through the delegate."""
        if not tool_calls or self.policy.requires_approval(tool_calls):
            return {
                "mode": "approval_required",
                "wait_reason": "user",
                "wait_key": self._wait_key_factory(),
                "tool_calls": [dict(c) for c in tool_calls if isinstance(c, Mapping)],
                "details": {"kind": "tool_approval", "policy": self.policy.describe()},
            }
        return self.delegate.execute(tool_calls=tool_calls)

    def execute_approved(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Run ``tool_calls`` through the delegate without the approval check (they were approved)."""
        return self.delegate.execute(tool_calls=tool_calls)

    def is_idempotent(self, name: str) -> bool:
        """The delegate's answer (False when it has no ``is_idempotent``)."""
        check = getattr(self.delegate, "is_idempotent", None)
        return callable(check) and check(name) is True

    def recheck_call(
        self, call: dict[str, Any], *, run_vars: dict[str, Any], allowed_tools: list[str] | None
    ) -> tuple[dict[str, Any], str | None]:
        """Re-check a call whose arguments were edited at approval, exactly like a fresh call.

        Args:
            call: the call with its edited ``arguments``.
            run_vars: the run's vars (its workspace policy, SPEC §11.4).
            allowed_tools: the node's allowlist recorded in the wait, or None.

        Returns:
            ``(call to run, None)`` (paths made absolute) or ``(call, refusal error)``.
        """
        from ._tool_checks import recheck_call

        return recheck_call(call, run_vars=run_vars, allowed_tools=allowed_tools)
