"""Media nodes: generate_image, generate_voice, transcribe_audio (LLM_CALL with an output selector, SPEC
§11.2) and listen_voice (a voice WAIT_EVENT).

**Generation / transcription.**  The payload is ``{"prompt", "output": selector, "media"?}``:

=================  ==========================================  =============================================
node               selector                                    pins
=================  ==========================================  =============================================
generate_image     ``{"modality": "image", "task":            ``prompt``; options ``size``, ``n``,
                   "text_to_image", ...}``                     ``format``, ``negative_prompt``, ``seed``
generate_voice     ``{"modality": "voice", "task":            ``text`` (or ``prompt``); options ``voice``,
                   "text_to_speech", ...}``                    ``format``, ``language``, ``speed``
transcribe_audio   ``{"modality": "text", "task":             ``audio`` (an artifact ref, path or media
                   "transcription", ...}``                     dict) -> ``media``; ``prompt``; ``language``
=================  ==========================================  =============================================

Options come from ``effectConfig`` overlaid with the pins.  The media model is ``media_model`` /
``media_provider`` (pin or ``effectConfig``), sent as the selector's ``model``/``provider``.  The node's
``provider``/``model`` pins name the *text* model of the flow: they are never sent with a media call (the
handler would otherwise use them as the media model), so the host's media default applies.

Outputs: ``result`` (raw), ``success`` and ``ok`` (the same flag), ``outputs``; generate_image ``image`` (the first artifact ref),
``images``, ``artifact_id``; generate_voice ``audio``, ``artifact_id``; transcribe_audio ``text`` and
``response`` (the transcript).

**listen_voice** waits for a voice event: WAIT_EVENT ``{"name": "voice_input", "scope": <scope pin or
effectConfig, default "run">, "prompt"?, "details": {"kind": "listen_voice", "modality": "voice",
"language"?, "max_seconds"?}}``, so the wait key is ``evt:run:<run_id>:voice_input`` by default.  The host
resumes it (directly or through EMIT_EVENT ``voice_input``) with ``{"text"/"transcript", "audio"?}``; the
outputs are ``text``/``transcript`` and ``audio`` (plus ``payload``, ``ok``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.models import EffectType, StepPlan
from .._util import as_dict, as_list
from .env import ExecEnv, Runner

__all__ = ["MEDIA_MAPPERS", "MEDIA_RUNNERS", "VOICE_EVENT_NAME"]

VOICE_EVENT_NAME = "voice_input"
_SELECTORS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "generate_image": (
        {"modality": "image", "task": "text_to_image"},
        ("size", "n", "format", "negative_prompt", "seed", "quality", "style"),
    ),
    "generate_voice": (
        {"modality": "voice", "task": "text_to_speech"},
        ("voice", "format", "language", "speed"),
    ),
    "transcribe_audio": ({"modality": "text", "task": "transcription"}, ("language", "format")),
}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None and v != ""), None)


def _media_runner(node_type: str) -> Runner:
    base, options = _SELECTORS[node_type]

    def run(env: ExecEnv) -> StepPlan:
        config, inputs = as_dict(env.data.get("effectConfig")), env.inputs()
        selector: dict[str, Any] = {**as_dict(config.get("output")), **base}
        for key in options:
            value = _first(inputs.get(key), config.get(key))
            if value is not None:
                selector[key] = value
        for pin, key in (("media_model", "model"), ("media_provider", "provider")):
            value = _first(inputs.get(pin), config.get(pin))
            if value is not None:
                selector[key] = value
        text = _first(inputs.get("text"), inputs.get("prompt")) if node_type == "generate_voice" else None
        prompt = text if text is not None else _first(inputs.get("prompt"), config.get("prompt"))
        payload: dict[str, Any] = {"prompt": "" if prompt is None else str(prompt), "output": selector}
        if node_type == "transcribe_audio":
            audio = _first(inputs.get("audio"), inputs.get("media"), config.get("audio"))
            if audio is None:
                return env.fail(f"transcribe_audio node '{env.node_id}' has no audio input")
            payload["media"] = audio
        return env.effect(EffectType.LLM_CALL, payload)

    return run


def _generated(raw: Any, modality: str) -> list[dict[str, Any]]:
    outputs = as_dict(as_dict(raw).get("outputs"))
    return [i for i in as_list(outputs.get(modality)) if isinstance(i, dict)]


def _media_outputs(modality: str, pin: str) -> Callable[[Any], dict[str, Any]]:
    def outputs(raw: Any) -> dict[str, Any]:
        items = _generated(raw, modality)
        first = items[0] if items else {}
        out = {
            "result": raw,
            "success": bool(items),
            "ok": bool(items),
            "outputs": as_dict(raw).get("outputs") or {},
            pin: first.get("artifact_ref"),
            "artifact_id": first.get("artifact_id"),
            "meta": as_dict(raw).get("metadata"),
        }
        if modality == "image":
            out["images"] = [i.get("artifact_ref") for i in items]
        return out

    return outputs


def _transcript_outputs(raw: Any) -> dict[str, Any]:
    result = as_dict(raw)
    text = result.get("content")
    return {
        "result": raw,
        "text": text,
        "response": text,
        "success": isinstance(text, str),
        "ok": isinstance(text, str),
        "meta": result.get("metadata"),
    }


def _listen_voice(env: ExecEnv) -> StepPlan:
    config, inputs = as_dict(env.data.get("effectConfig")), env.inputs()
    details: dict[str, Any] = {"kind": "listen_voice", "modality": "voice"}
    for key in ("language", "max_seconds"):
        value = _first(inputs.get(key), config.get(key))
        if value is not None:
            details[key] = value
    payload: dict[str, Any] = {
        "name": VOICE_EVENT_NAME,
        "scope": _first(inputs.get("scope"), config.get("scope")) or "run",
        "details": details,
    }
    prompt = _first(inputs.get("prompt"), config.get("prompt"))
    if prompt is not None:
        payload["prompt"] = str(prompt)
    return env.effect(EffectType.WAIT_EVENT, payload)


def _voice_outputs(raw: Any) -> dict[str, Any]:
    envelope = as_dict(raw)
    data = envelope.get("payload") if "payload" in envelope and "name" in envelope else raw
    body = as_dict(data)
    text = _first(body.get("text"), body.get("transcript"))
    if text is None and isinstance(data, str):
        text = data
    return {
        "text": text,
        "transcript": text,
        "audio": body.get("audio"),
        "payload": data,
        "success": True,
        "ok": True,
    }


MEDIA_RUNNERS: dict[str, Runner] = {
    **{t: _media_runner(t) for t in _SELECTORS},
    "listen_voice": _listen_voice,
}
MEDIA_MAPPERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "generate_image": _media_outputs("image", "image"),
    "generate_voice": _media_outputs("voice", "audio"),
    "transcribe_audio": _transcript_outputs,
    "listen_voice": _voice_outputs,
}
