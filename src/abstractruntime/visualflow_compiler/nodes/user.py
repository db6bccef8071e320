"""User-facing nodes: ask_user (ASK_USER wait) and answer_user (ANSWER_USER)."""

from __future__ import annotations

from typing import Any

from ...core.models import EffectType, StepPlan
from .._util import as_dict
from .env import ExecEnv, Runner

__all__ = ["USER_MAPPERS", "USER_RUNNERS"]


def _ask_user(env: ExecEnv) -> StepPlan:
    config = as_dict(env.data.get("effectConfig"))
    inputs = env.inputs()
    payload: dict[str, Any] = {
        "prompt": inputs.get("prompt") or config.get("prompt") or "Please respond",
        "allow_free_text": bool(config.get("allowFreeText", config.get("allow_free_text", True))),
    }
    if isinstance(inputs.get("choices"), list):
        payload["choices"] = inputs["choices"]
    return env.effect(EffectType.ASK_USER, payload)


def _answer_user(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    message = inputs.get("message")
    payload: dict[str, Any] = {"message": "" if message is None else message}
    if inputs.get("level"):
        payload["level"] = inputs["level"]
    return env.effect(EffectType.ANSWER_USER, payload)


def _ask_outputs(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        response = raw.get("response", raw.get("text", raw.get("answer", raw.get("value"))))
        return {**raw, "response": response}
    return {"response": raw}


USER_RUNNERS: dict[str, Runner] = {"ask_user": _ask_user, "answer_user": _answer_user}
USER_MAPPERS = {
    "ask_user": _ask_outputs,
    "answer_user": lambda raw: dict(raw) if isinstance(raw, dict) else {"message": raw},
}
