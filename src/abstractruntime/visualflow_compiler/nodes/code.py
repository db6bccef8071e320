"""Code / function nodes: user code run through ``visualflow_compiler.code_runner.run_code_node``.

The function receives one dict: the ``input`` pin's dict merged with the other connected pins.  Its return
value is the ``output`` pin (and, when a dict, its keys are pins too).  Any error completes the run with
``success: False`` (SPEC §9.2), it does not fail it; that includes a hit OS limit
(``CodeNodeLimitError``, an ``abstractruntime.errors.CodeLimitExceededError``), whose message names the
limit.

The code runs in a child process under the host's limits (``code_limits.host_code_limits()``: the object
given to ``configure_code_limits``, else the ``ABSTRACTRUNTIME_CODE_*`` environment variables, else the
defaults).  Nothing in the node's data, the flow or the run state is read for limits or for unsafe mode.
"""

from __future__ import annotations

import os
from typing import Any

from ...core.models import StepPlan
from ..code_errors import CodeNodeError
from ..code_runner import run_code_node
from .env import ExecEnv, Runner

__all__ = ["CODE_RUNNERS", "code_inputs"]


UNSAFE_CODE_ENV = "ABSTRACTRUNTIME_ALLOW_UNSAFE_CODE"
"""Set to ``1`` in the host's environment to run code nodes as real Python (trusted flows only)."""


def code_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The dict handed to the user function."""
    base = inputs.get("input")
    merged: dict[str, Any] = dict(base) if isinstance(base, dict) else {}
    if base is not None:
        merged["input"] = base  # functions read the pin itself as ``_input["input"]`` too
    for key, value in inputs.items():
        if key != "input" and value is not None:
            merged[key] = value
    return merged


def _code(env: ExecEnv) -> StepPlan:
    code = env.data.get("code") or env.data.get("codeBody") or env.data.get("expression")
    if not isinstance(code, str) or not code.strip():
        return env.fail(f"code node '{env.node_id}' has no code")
    # Host configuration only: a flow can write its own vars, so run state must never unlock ``exec``.
    allow_unsafe = os.environ.get(UNSAFE_CODE_ENV, "").strip().lower() in ("1", "true", "yes")
    try:
        result = run_code_node(
            code=code,
            function_name=env.data.get("functionName"),
            inputs=code_inputs(env.inputs()),
            allow_unsafe=allow_unsafe,
            node_id=env.node_id,
        )
    except CodeNodeError as exc:
        return env.fail(exc)
    outputs: dict[str, Any] = dict(result) if isinstance(result, dict) else {}
    outputs["output"] = result
    outputs.setdefault("result", result)
    return env.go("exec-out", outputs, result=result if result is not None else {})


CODE_RUNNERS: dict[str, Runner] = {"code": _code, "function": _code}
