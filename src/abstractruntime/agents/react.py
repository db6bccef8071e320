"""The built-in durable ReAct agent: :func:`react_agent_spec`.

A VisualFlow ``agent`` node starts ``visual_react_agent_<flow>_<node>`` as a child run; the compiler
registers this workflow under that id.  Two nodes loop::

    reason --LLM_CALL--> act --TOOL_CALLS--> reason ...      act --(no tool calls)--> complete

* ``reason`` folds the previous tool results into the scratchpad (observe), counts the iteration and
  asks the LLM for the next turn (task, context messages, system prompt, tool list).
* ``act`` reads the answer: without tool calls the run completes with it; otherwise it appends the
  assistant turn and requests TOOL_CALLS restricted to the agent's ``allowed_tools``.  A tool-using
  agent with a ``response_schema`` makes one more, tool-less LLM_CALL (``agent_phase: "final"``) that
  asks for the answer in that schema (structured output and tool calls do not mix); its ``data`` is
  the run's ``data``.

Every step is a kernel effect whose result lands in ``vars._temp`` and whose bookkeeping lives in
``vars._temp.react``, so a crash, a restart on another process or a TOOL_CALLS wait (approval,
passthrough, delegated job) resumes where it stopped.  Each payload carries ``agent_iteration``: the
kernel reuses a completed result by payload (SPEC §6), so iterations must differ.

Stops: a final answer (``stop_reason: "answered"``); ``max_iterations`` LLM calls that still ask for
tools; or a turn whose input + output tokens reach ``max_tokens`` (the conversation no longer fits the
budget).  The two limits complete the run with ``success: False`` and the last text as the answer.
At most ``2 * max_iterations + 1`` steps run, so a host ticking the child with the kernel's default
``max_steps=100`` (a synchronous START_SUBWORKFLOW) fits 49 iterations in one tick.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from ..core.models import Effect, EffectType, RunState, StepPlan
from ..core.spec import RunContext, WorkflowSpec
from .settings import AgentSettings

__all__ = ["FINAL_INSTRUCTION", "LLM_RESULT_KEY", "TOOLS_RESULT_KEY", "react_agent_spec"]

_STATE, _LLM_SLOT, _TOOLS_SLOT = "react", "react_llm", "react_tools"
LLM_RESULT_KEY = f"_temp.{_LLM_SLOT}"
TOOLS_RESULT_KEY = f"_temp.{_TOOLS_SLOT}"


def _temp(vars: dict[str, Any]) -> dict[str, Any]:
    temp = vars.get("_temp")
    if not isinstance(temp, dict):
        temp = vars["_temp"] = {}
    return temp


def _state(vars: dict[str, Any], settings: AgentSettings) -> dict[str, Any]:
    temp = _temp(vars)
    state = temp.get(_STATE)
    if not isinstance(state, dict):
        first = [{"role": "user", "content": settings.task}] if settings.task else []
        state = temp[_STATE] = {
            "iteration": 0,
            "transcript": first,
            "steps": [],
            "tool_calls": [],
            "tool_results": [],
            "pending": [],
            "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
        }
    return state


def _set_limits(vars: dict[str, Any], **values: int) -> None:
    """Agent loops keep ``_limits.current_iteration``/``estimated_tokens_used`` current (SPEC §5.5)."""
    limits = vars.get("_limits")
    if isinstance(limits, dict):
        limits.update(values)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _tool_results(raw: Any, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per call, in call order, from a TOOL_CALLS result or a host's resume payload."""
    results = raw.get("results") if isinstance(raw, Mapping) else None
    if not isinstance(results, list):
        # A passthrough/delegated wait resumed with a payload of another shape: hand it to the model as is.
        return [
            {"call_id": c["call_id"], "name": c["name"], "success": True, "output": raw, "error": None}
            for c in calls
        ]
    out: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        item = results[index] if index < len(results) and isinstance(results[index], Mapping) else None
        if item is None:
            item = {"success": False, "output": None, "error": "Missing tool result"}
        out.append({**copy.deepcopy(dict(item)), "call_id": call["call_id"], "name": call["name"]})
    return out


def _observe(vars: dict[str, Any], state: dict[str, Any]) -> None:
    """Fold the pending TOOL_CALLS result into the transcript, the step and the run totals."""
    temp = _temp(vars)
    if not state["pending"] or _TOOLS_SLOT not in temp:
        return
    raw = temp.pop(_TOOLS_SLOT)
    results = _tool_results(raw, state["pending"])
    for result in results:
        content = _text(result.get("output")) if result.get("success") else f"Error: {result.get('error')}"
        message = {
            "role": "tool",
            "tool_call_id": result["call_id"],
            "name": result["name"],
            "content": content,
        }
        state["transcript"].append(message)
    if state["steps"]:
        state["steps"][-1]["observations"] = results
    state["tool_results"].extend(results)
    state["pending"] = []


FINAL_INSTRUCTION = "Give your final answer now, as JSON that matches the response schema."


def _llm_payload(settings: AgentSettings, state: dict[str, Any], *, final: bool = False) -> dict[str, Any]:
    """The LLM_CALL payload of the current iteration (``prompt`` on the first, ``messages`` after).

    ``final`` asks a tool-using agent with a ``response_schema`` for its answer in that schema: the
    whole transcript plus :data:`FINAL_INSTRUCTION`, the schema, and no tools.
    """
    history = [copy.deepcopy(m) for m in settings.context_messages]
    if state["iteration"] == 1 and not final:
        payload: dict[str, Any] = {"prompt": settings.task}
    else:
        payload = {"prompt": ""}
        history += copy.deepcopy(state["transcript"])
    if final:
        history.append({"role": "user", "content": FINAL_INSTRUCTION})
    if history:
        payload["messages"] = history
    if settings.system:
        payload["system_prompt"] = settings.system
    for key in ("provider", "model", "max_input_tokens"):
        if getattr(settings, key) is not None:
            payload[key] = getattr(settings, key)
    if settings.tools and not final:
        payload["tools"] = copy.deepcopy(settings.tools)
    elif settings.response_schema:
        # Structured output would forbid tool calls: a tool-using agent gets the schema in a final call.
        payload["response_schema"] = copy.deepcopy(settings.response_schema)
    if settings.params:
        payload["params"] = dict(settings.params)
    payload["agent_iteration"] = state["iteration"]
    if final:
        payload["agent_phase"] = "final"
    return payload


def _calls(raw: Any, iteration: int) -> list[dict[str, Any]]:
    """The model's tool calls as ``{call_id, name, arguments}`` (ids minted when the model gave none)."""
    calls: list[dict[str, Any]] = []
    for index, call in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
        assert isinstance(function, Mapping)
        name = call.get("name") or function.get("name")
        args = call.get("arguments", function.get("arguments"))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {"input": args}
        call_id = call.get("call_id") or call.get("id") or f"agent_{iteration}_{index + 1}"
        calls.append(
            {
                "call_id": str(call_id),
                "name": str(name).strip() if name is not None else "",
                "arguments": args if isinstance(args, dict) else {},
            }
        )
    return calls


def _count_usage(vars: dict[str, Any], state: dict[str, Any], llm: Mapping[str, Any]) -> int:
    """Add the turn's usage (tokens) to the totals; return the turn's input + output tokens."""
    usage = llm.get("usage") if isinstance(llm.get("usage"), Mapping) else {}
    assert isinstance(usage, Mapping)

    def count(*names: str) -> int:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return 0

    used_in = count("input_tokens", "prompt_tokens")
    used_out = count("output_tokens", "completion_tokens")
    totals = state["usage"]
    totals["input_tokens"] += used_in
    totals["output_tokens"] += used_out
    totals["total_tokens"] += count("total_tokens") or used_in + used_out
    _set_limits(vars, estimated_tokens_used=used_in)
    return used_in + used_out


def _output(
    settings: AgentSettings,
    state: dict[str, Any],
    *,
    answer: str,
    stop: str,
    llm: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The completed run's output, in the shape the agent node's mapper reads."""
    output: dict[str, Any] = {
        "success": error is None,
        "answer": answer,
        "response": answer,
        "result": answer,
        "scratchpad": {
            "messages": copy.deepcopy(state["transcript"]),
            "steps": copy.deepcopy(state["steps"]),
            "iterations": state["iteration"],
        },
        "tool_calls": copy.deepcopy(state["tool_calls"]),
        "tool_results": copy.deepcopy(state["tool_results"]),
        "meta": {
            "iterations": state["iteration"],
            "max_iterations": settings.max_iterations,
            "stop_reason": stop,
            "provider": settings.provider,
            "model": (llm or {}).get("model") or settings.model,
            "usage": dict(state["usage"]),
        },
    }
    if llm is not None and llm.get("data") is not None:
        output["data"] = copy.deepcopy(llm["data"])
    if error is not None:
        output["error"] = error
    return output


def react_agent_spec(workflow_id: str, *, defaults: Mapping[str, Any] | None = None) -> WorkflowSpec:
    """The built-in ReAct agent as a WorkflowSpec registered under ``workflow_id``.

    Args:
        workflow_id: the id to register (``visual_react_agent_<flow>_<node>`` for a VisualFlow node).
        defaults: the node's ``agentConfig``; a setting the run's vars leave unset falls back to it
            (see :class:`~abstractruntime.agents.settings.AgentSettings`).

    Returns:
        A spec with nodes ``reason`` (entry) and ``act``; the run completes with ``{success, answer,
        response, result (all three the final text), scratchpad: {messages, steps, iterations}, tool_calls, tool_results, meta: {iterations,
        max_iterations, stop_reason, provider, model, usage}, data?, error?}``.
    """
    base = dict(defaults or {})

    def reason(run: RunState, ctx: RunContext) -> StepPlan:
        settings = AgentSettings.from_vars(run.vars, base)
        state = _state(run.vars, settings)
        _observe(run.vars, state)
        if not settings.task and not settings.context_messages and not state["transcript"]:
            error = "the agent has no task (set the node's task/prompt pin or context messages)"
            return StepPlan(
                node_id="reason",
                complete_output=_output(settings, state, answer="", stop="no_task", error=error),
            )
        state["iteration"] += 1
        _set_limits(run.vars, current_iteration=state["iteration"])
        effect = Effect(EffectType.LLM_CALL, _llm_payload(settings, state), LLM_RESULT_KEY)
        return StepPlan(node_id="reason", effect=effect, next_node="act")

    def act(run: RunState, ctx: RunContext) -> StepPlan:
        settings = AgentSettings.from_vars(run.vars, base)
        state = _state(run.vars, settings)
        llm = _temp(run.vars).pop(_LLM_SLOT, None)
        if not isinstance(llm, Mapping):
            output = _output(settings, state, answer="", stop="error", error="LLM_CALL returned no result")
            return StepPlan(node_id="act", complete_output=output)
        turn_tokens = _count_usage(run.vars, state, llm)
        content = _text(llm.get("content") or "")
        final = state.get("phase") == "final"
        calls = [] if final else _calls(llm.get("tool_calls"), state["iteration"])
        state["steps"].append({"iteration": state["iteration"], "thought": content, "tool_calls": calls})
        if not calls:
            state["transcript"].append({"role": "assistant", "content": content})
            if final or not (settings.response_schema and settings.tools):
                output = _output(settings, state, answer=content, stop="answered", llm=llm)
                return StepPlan(node_id="act", complete_output=output)
            state["phase"] = "final"
            effect = Effect(EffectType.LLM_CALL, _llm_payload(settings, state, final=True), LLM_RESULT_KEY)
            return StepPlan(node_id="act", effect=effect, next_node="act")
        limit = _limit_hit(settings, state, turn_tokens)
        if limit is not None:
            output = _output(settings, state, answer=content, stop=limit[0], llm=llm, error=limit[1])
            return StepPlan(node_id="act", complete_output=output)
        state["transcript"].append(
            {"role": "assistant", "content": content, "tool_calls": copy.deepcopy(calls)}
        )
        state["tool_calls"].extend(copy.deepcopy(calls))
        state["pending"] = copy.deepcopy(calls)
        payload = {
            "tool_calls": copy.deepcopy(calls),
            "allowed_tools": list(settings.allowed_tools),
            "agent_iteration": state["iteration"],
        }
        effect = Effect(EffectType.TOOL_CALLS, payload, TOOLS_RESULT_KEY)
        return StepPlan(node_id="act", effect=effect, next_node="reason")

    return WorkflowSpec(workflow_id=workflow_id, entry_node="reason", nodes={"reason": reason, "act": act})


def _limit_hit(settings: AgentSettings, state: dict[str, Any], turn_tokens: int) -> tuple[str, str] | None:
    """``(stop_reason, error)`` when the agent may not run another iteration, else None."""
    if state["iteration"] >= settings.max_iterations:
        return "max_iterations", f"max_iterations ({settings.max_iterations}) reached before a final answer"
    if settings.max_tokens is not None and turn_tokens >= settings.max_tokens:
        return (
            "max_tokens",
            f"the last turn used {turn_tokens} tokens, at or over max_tokens ({settings.max_tokens})",
        )
    return None
