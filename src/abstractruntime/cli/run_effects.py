"""LLM_CALL and TOOL_CALLS handlers that follow the options each run recorded when it started.

A runtime the CLI builds also drives runs it did not start: ``scheduler serve`` wakes timers and
continues stranded runs, ``emit`` resumes listeners, ``recover`` continues what a dead driver left, and a
subworkflow child runs under its parent's runtime.  Each of those runs still gets the LLM, the tool
approval mode and the workspace it was started with (its root run's ``vars._runtime``, which flows
cannot write), never those of whichever command happens to drive it.  Runs that carry no CLI options
(started by a host program) get the runtime's own defaults.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from abstractruntime.core.models import Effect, EffectType, RunState
from abstractruntime.core.outcome import EffectOutcome, call_effect_handler, handler_arity

if TYPE_CHECKING:
    from .app import App

__all__ = ["CLI_NS_WORKSPACE", "RunEffects", "RunOptions", "run_options"]

CLI_NS_WORKSPACE = "cli_workspace_root"
"""Where ``run`` records the directory it was started in: the workspace of a run that names none."""

Handler = Callable[[RunState, Effect, "str | None"], EffectOutcome]


@dataclass(frozen=True)
class RunOptions:
    """What a run's effects run with.

    Attributes:
        fake_llm: LLM calls are answered by ``ScriptedLLM`` (``--fake-llm``).
        stored_llm: the LLM settings recorded at start (``{"base_url", "model"}``) or None.
        approve_tools: one of ``cli.tools.APPROVE_MODES``.
        workspace_root: the directory the file tools work in (None: the current directory).
        hash_chain: the run's ledger records are hash-chained (False after ``--no-hash-chain``).
    """

    fake_llm: bool = False
    stored_llm: Any = None
    approve_tools: str = "ask"
    workspace_root: str | None = None
    hash_chain: bool = True

    def key(self) -> str:
        """A text equal for equal options (``stored_llm`` is a JSON object)."""
        return json.dumps(asdict(self), sort_keys=True, default=str)


def run_options(ns: dict[str, Any], run: RunState) -> RunOptions:
    """The options recorded in the CLI namespace ``ns`` of ``run``'s root run.

    ``run``'s own ``workspace_root`` (host-owned; a child inherits its parent's) wins over the directory
    recorded at start.
    """
    from .app import CLI_NS_FAKE_LLM, CLI_NS_HASH_CHAIN
    from .llm import CLI_NS_LLM
    from .tools import CLI_NS_APPROVE_TOOLS

    workspace = run.vars.get("workspace_root")
    if not (isinstance(workspace, str) and workspace.strip()):
        recorded = ns.get(CLI_NS_WORKSPACE)
        workspace = recorded if isinstance(recorded, str) else None
    return RunOptions(
        fake_llm=bool(ns.get(CLI_NS_FAKE_LLM)),
        stored_llm=ns.get(CLI_NS_LLM),
        approve_tools=str(ns.get(CLI_NS_APPROVE_TOOLS) or "ask"),
        workspace_root=workspace,
        hash_chain=ns.get(CLI_NS_HASH_CHAIN, True) is not False,
    )


@dataclass(frozen=True)
class _Built:
    handlers: dict[EffectType, Any]
    executor: Any


class RunEffects:
    """The LLM_CALL and TOOL_CALLS handlers of one CLI runtime, chosen per run (see the module doc).

    Args:
        app: the command's :class:`~abstractruntime.cli.app.App` (stores, LLM options, closers).
        defaults: the options of runs that recorded none.
        force_fake_llm: answer every run's LLM calls with ``ScriptedLLM`` (a worker's ``--fake-llm``).

    Raises:
        CliError: ``defaults`` name an unknown approval mode or an LLM client that cannot be built
            (exit 2).
    """

    def __init__(self, app: App, defaults: RunOptions, *, force_fake_llm: bool = False) -> None:
        self._app = app
        self._defaults = defaults
        self._force_fake_llm = force_fake_llm
        self._built: dict[str, _Built] = {}
        self._lock = threading.Lock()
        self.executor = self._handlers(defaults).executor
        """The tool executor of ``defaults`` (for approval resumes: ``set_tool_executor_for_resume``)."""

    def handlers(self) -> dict[EffectType, Handler]:
        """``{LLM_CALL: router, TOOL_CALLS: router}`` for ``Runtime(effect_handlers=...)``."""
        return {kind: self._router(kind) for kind in (EffectType.LLM_CALL, EffectType.TOOL_CALLS)}

    def options_for(self, run: RunState) -> RunOptions:
        """The options ``run`` recorded at start (its root run's), or the defaults."""
        ns = self._app.root_ns(run)
        return run_options(ns, run) if ns else self._defaults

    def _router(self, kind: EffectType) -> Handler:
        def handle(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
            handler = self._handlers(self.options_for(run)).handlers[kind]
            return call_effect_handler(handler, handler_arity(handler), run, effect, default_next_node)

        handle.__name__ = f"per_run_{kind.value}"
        return handle

    def _handlers(self, options: RunOptions) -> _Built:
        """The handlers of ``options``, built once per distinct set (LLM clients are reused).

        Raises:
            CliError: an unknown approval mode, or the LLM extra is missing (exit 2).
        """
        key = options.key()
        with self._lock:
            built = self._built.get(key)
            if built is None:
                built = self._build(options)
                self._built[key] = built
            return built

    def _build(self, options: RunOptions) -> _Built:
        from .app import EXIT_USAGE, CliError
        from .tools import tool_setup

        try:
            handlers, executor = tool_setup(options.approve_tools, options.workspace_root)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from exc
        if options.fake_llm or self._force_fake_llm:
            from abstractruntime.testing import ScriptedLLM

            handlers[EffectType.LLM_CALL] = ScriptedLLM()
        else:
            handlers.update(self._app.llm_handlers(options.stored_llm, executor))
        return _Built(handlers, executor)
