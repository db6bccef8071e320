"""``run`` and ``resume``: starting a run and answering its waits."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from abstractruntime.core.engine.store_access import is_paused
from abstractruntime.core.models import RunStatus
from abstractruntime.core.rewind import START_VARS_KEY

from . import render
from .answers import answer_payload, approval_payload
from .app import (
    CLI_NS_CODE_SHA256,
    CLI_NS_CWD,
    CLI_NS_FAKE_LLM,
    CLI_NS_HASH_CHAIN,
    CLI_NS_TARGET,
    EXIT_USAGE,
    App,
    CliError,
    get_app,
    parse_json_option,
    unreadable_json_reason,
)
from .driver import (
    Driver,
    add_waiting_workflows,
    drive_woken_listeners,
    is_ancestor,
    plain_value,
    report_outcome,
)
from .llm import CLI_NS_LLM
from .run_effects import CLI_NS_WORKSPACE
from .run_ids import RUN_ID
from .targets import LoadedTarget, TargetError, load_target
from .tools import CLI_NS_APPROVE_TOOLS


def _parse_inputs(inputs: tuple[str, ...], vars_json: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if vars_json is not None:
        parsed = parse_json_option(vars_json, "--vars-json")
        if not isinstance(parsed, dict):
            raise CliError("--vars-json must be a JSON object", EXIT_USAGE)
        data.update(parsed)
    for item in inputs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--input expects key=value, got {item!r}", EXIT_USAGE)
        try:
            data[key] = json.loads(value)
            if not isinstance(data[key], (dict, list, int, float, bool)) or value.strip() != value:
                data[key] = value
        except json.JSONDecodeError:
            data[key] = value
        except RecursionError as exc:
            raise CliError(f"--input {key}: the value is nested too deeply", EXIT_USAGE) from exc
        except ValueError as exc:  # an integer over Python's digit limit: refuse rather than guess
            raise CliError(f"--input {key}: {unreadable_json_reason(exc)}", EXIT_USAGE) from exc
    return data


def _refuse_unknown_inputs(loaded: LoadedTarget, inputs: tuple[str, ...]) -> None:
    """A VisualFlow takes only the ``--input`` keys its entry node declares (see ``flow show``)."""
    if loaded.kind != "visualflow" or not inputs:
        return
    from .flow_info import flow_input_names, unknown_input_keys

    allowed = flow_input_names(Path(loaded.ref))
    unknown = unknown_input_keys([item.partition("=")[0] for item in inputs], allowed)
    if unknown:
        valid = ", ".join(allowed) or "none (the flow declares no inputs)"
        raise CliError(
            f"unknown --input key(s) {', '.join(unknown)} for flow {loaded.spec.workflow_id!r}; valid keys: {valid}",
            EXIT_USAGE,
        )


def _refuse_detached_memory_store(app: App, detach: bool) -> None:
    """``--detach`` leaves a run for a later process; a ``memory://`` store ends with this one."""
    if detach and app.resolved_store_url.lower().startswith("memory:"):
        raise CliError(
            "--detach with --store memory:// would leave the run in a store that ends with this command; "
            "use a durable store (sqlite:///runs.db, file:///dir)",
            EXIT_USAGE,
        )


def _interactive(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def llm_options(func: Any) -> Any:
    """``--llm-base-url``, ``--llm-model``, ``--llm-api-key`` (see ``cli/llm.py`` for env and config)."""
    func = click.option(
        "--llm-api-key",
        help="Bearer token for the LLM server (env ABSTRACTRUNTIME_LLM_API_KEY). Never stored in the run.",
    )(func)
    func = click.option(
        "--llm-model", help="Model name sent to the LLM server (env ABSTRACTRUNTIME_LLM_MODEL)."
    )(func)
    return click.option(
        "--llm-base-url",
        help="An OpenAI-compatible server, e.g. http://127.0.0.1:11434 (Ollama), http://127.0.0.1:1234 "
        "(LM Studio); env ABSTRACTRUNTIME_LLM_BASE_URL.",
    )(func)


@click.command(
    "run",
    epilog="""\b
Examples:
  abstractruntime run examples/flows/ask_and_answer.json --input request=hi --detach
  abstractruntime flow show my_flow.json   # the --input keys it takes""",
)
@click.argument("target")
@click.option(
    "--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A run variable (repeatable)."
)
@click.option("--vars-json", help="Run variables as a JSON object (merged under --input).")
@click.option(
    "--detach", is_flag=True, help="Do not prompt or wait: leave the run waiting and print how to resume it."
)
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Prompt at user waits (default: when stdin is a TTY).",
)
@click.option(
    "--fake-llm",
    is_flag=True,
    help="Answer LLM_CALL effects with the deterministic ScriptedLLM (testing only).",
)
@click.option("--no-hash-chain", is_flag=True, help="Do not hash-chain this run's ledger records.")
@click.option("--session", "session_id", help="Session id of the run.")
@click.option("--quiet", "-q", is_flag=True, help="Do not show progress.")
@click.option(
    "--json", "json_output", is_flag=True, help="Print the outcome as JSON (progress goes to stderr)."
)
@click.option(
    "--approve-tools",
    type=click.Choice(["ask", "safe-only", "all"]),
    default="ask",
    show_default=True,
    help="Tool calls: ask before any that is not read-only; run read-only ones only; or run all.",
)
@llm_options
@click.pass_context
def run_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    target: str,
    inputs: tuple[str, ...],
    vars_json: str | None,
    detach: bool,
    interactive: bool | None,
    fake_llm: bool,
    no_hash_chain: bool,
    session_id: str | None,
    quiet: bool,
    json_output: bool,
    approve_tools: str,
    llm_base_url: str | None,
    llm_model: str | None,
    llm_api_key: str | None,
) -> None:
    """Start TARGET and drive it: a VisualFlow .json, a .flow bundle[:entrypoint] or module:attribute."""
    app = get_app(ctx)
    app.json_output = app.json_output or json_output
    _refuse_detached_memory_store(app, detach)
    cwd = os.getcwd()
    try:
        loaded = load_target(target, cwd=cwd)
    except TargetError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    run_vars = _parse_inputs(inputs, vars_json)
    _refuse_unknown_inputs(loaded, inputs)
    ns = run_vars.get("_runtime")
    ns = dict(ns) if isinstance(ns, dict) else {}
    ns[START_VARS_KEY] = copy.deepcopy({k: v for k, v in run_vars.items() if k != "_runtime"})  # for `fork`
    ns[CLI_NS_TARGET] = loaded.ref
    if loaded.kind == "python":
        ns[CLI_NS_CWD] = cwd
        ns[CLI_NS_CODE_SHA256] = loaded.code_sha256
    app.llm_options = {"base_url": llm_base_url, "model": llm_model, "api_key": llm_api_key}
    ns[CLI_NS_APPROVE_TOOLS] = approve_tools
    ns[CLI_NS_WORKSPACE] = cwd  # the file tools' workspace when the run names none, whoever drives it
    if fake_llm:
        ns[CLI_NS_FAKE_LLM] = True
    else:
        settings = app.llm_settings()
        if settings is not None:
            ns[CLI_NS_LLM] = settings.stored()
    if no_hash_chain:
        ns[CLI_NS_HASH_CHAIN] = False
    run_vars["_runtime"] = ns
    registry = loaded.registry()
    listeners = add_waiting_workflows(app, registry)
    runtime = app.runtime(
        registry,
        fake_llm=fake_llm,
        hash_chain=not no_hash_chain,
        approve_tools=approve_tools,
        workspace_root=run_vars.get("workspace_root") or cwd,
    )
    run_id = runtime.start(workflow=loaded.spec, vars=run_vars, session_id=session_id)
    out = render.console(stderr=app.json_output)
    if not quiet:
        out.print(f"[bold]▶ run {run_id}[/bold] ({render.escape(loaded.spec.workflow_id)}, {loaded.kind})")
    driver = Driver(
        app, runtime, registry, interactive=_interactive(interactive), detach=detach, show_progress=not quiet
    )
    stopped = driver.drive(run_id)
    if listeners:
        drive_woken_listeners(app, runtime, registry, listeners)
    ctx.exit(report_outcome(app, run_id, stopped))


RESUME_EPILOG = """\b
Payload each wait reason expects:
  user         --answer TEXT  ->  {"text": TEXT}; one of the wait's choices unless it allows free text
  event        --answer TEXT  ->  {"response": TEXT} when the wait has a prompt; otherwise
               --payload-json '{...}' (the event payload the flow reads)
  tool approval (a wait listing tool calls)  --approve | --deny | --approve-call ID | --edit ID=JSON
  job          --payload-json '{...}' (the job's result)
  subworkflow  resumed by the runtime when the child run ends (nothing to send)
  until        a timer: `abstractruntime scheduler serve` wakes it (nothing to send)

\b
Examples:
  abstractruntime resume 6a16fe06 --answer Bob
  abstractruntime resume 6a16fe06 --payload-json '{"approved": true}'"""


@click.command("resume", epilog=RESUME_EPILOG)
@click.argument("run_id", type=RUN_ID)
@click.option(
    "--answer",
    "-a",
    help='Answer text: {"text": ANSWER} for a user wait, {"response": ANSWER} for an event wait with a '
    "prompt; must be one of the wait's choices unless it allows free text.",
)
@click.option("--payload-json", help="The resume payload as JSON (any wait with a key).")
@click.option(
    "--approve/--deny",
    "approval",
    default=None,
    help='Answer a tool-approval wait: run the calls ({"approved": true}) or refuse them. With '
    "--approve-call/--edit, --approve also approves the calls not named.",
)
@click.option(
    "--approve-call",
    "approve_calls",
    multiple=True,
    metavar="CALL_ID",
    help="Approve only this call of a tool-approval wait (repeatable); calls not named are denied.",
)
@click.option(
    "--edit",
    "edits",
    multiple=True,
    metavar="CALL_ID=JSON",
    help="Approve this call with new arguments, a JSON object (repeatable); re-checked like a new call.",
)
@click.option("--detach", is_flag=True, help="Do not prompt at further waits.")
@click.option(
    "--interactive/--no-interactive", default=None, help="Prompt at further user waits (default: TTY)."
)
@click.option("--quiet", "-q", is_flag=True, help="Do not show progress.")
@click.option("--json", "json_output", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--target",
    "operator_target",
    help="The run's workflow (TARGET as for `run`), instead of the one stored with the run. Needed for "
    "a Python target whose code changed since the run started.",
)
@llm_options
@click.pass_context
def resume_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    run_id: str,
    answer: str | None,
    payload_json: str | None,
    approval: bool | None,
    approve_calls: tuple[str, ...],
    edits: tuple[str, ...],
    detach: bool,
    interactive: bool | None,
    quiet: bool,
    json_output: bool,
    operator_target: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    llm_api_key: str | None,
) -> None:
    """Resume the waiting run RUN_ID with an answer or a payload, then drive it on."""
    app = get_app(ctx)
    app.llm_options = {"base_url": llm_base_url, "model": llm_model, "api_key": llm_api_key}
    app.json_output = app.json_output or json_output
    _refuse_detached_memory_store(app, detach)
    approving = approval is not None or bool(approve_calls) or bool(edits)
    given = [v for v in (answer, payload_json, approving or None) if v is not None]
    if len(given) != 1:
        raise click.UsageError(
            "give exactly one of --answer, --payload-json or an approval (--approve/--deny, --approve-call, --edit)"
        )
    payload: Any = parse_json_option(payload_json, "--payload-json")
    state = app.load_state(run_id)
    if state.status != RunStatus.WAITING or state.waiting is None:
        raise CliError(f"run {run_id} is not waiting (status: {plain_value(state.status)})", EXIT_USAGE)
    if approving:
        payload = approval_payload(state.waiting, approval, approve_calls, edits)
    elif answer is not None:
        payload = answer_payload(state.waiting, answer)
    if is_paused(state):
        raise CliError(f"run {run_id} is paused; unpause it first", EXIT_USAGE)
    if not state.waiting.wait_key:
        raise CliError(
            f"run {run_id} waits on a timer (no wait key); run `abstractruntime scheduler serve`", EXIT_USAGE
        )
    runtime, registry, spec = app.runtime_for_run(state, operator_target=operator_target)
    driver = Driver(
        app, runtime, registry, interactive=_interactive(interactive), detach=detach, show_progress=not quiet
    )
    driver.mark_seen(run_id)
    ancestor = state.parent_run_id
    while ancestor and ancestor not in driver.seen:  # show only what happens from now on
        driver.mark_seen(ancestor)
        parent = app.stores.run_store.load(ancestor)
        ancestor = parent.parent_run_id if parent is not None else None
    key = state.waiting.wait_key
    driver.claim(run_id)  # best effort: the run's revision decides which resume is applied
    driver.elsewhere = None
    if not driver._tick(
        state,
        lambda: runtime.resume(workflow=spec, run_id=run_id, wait_key=key, payload=payload, max_steps=1),
    ):
        raise CliError(
            f"run {run_id} was resumed by another driver first; this payload was not delivered", EXIT_USAGE
        )
    stopped = driver.drive(run_id)
    if driver.elsewhere:  # delivered; only the steps after it are someone else's to take
        click.echo(f"Payload delivered; {driver.elsewhere}.", err=True)
    root_id = (
        stopped.run_id if stopped.run_id != run_id and is_ancestor(app, stopped.run_id, run_id) else run_id
    )
    ctx.exit(report_outcome(app, root_id, stopped))


COMMANDS = [run_cmd, resume_cmd]
