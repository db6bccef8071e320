"""The OpenAI-compatible media endpoints (SPEC §11.1): images, speech, music and transcription over HTTP.

:func:`request_media` sends one media request for :meth:`RemoteAbstractCoreLLMClient.generate_media
<abstractruntime.integrations.abstractcore.llm_client.RemoteAbstractCoreLLMClient.generate_media>`:

======================  ===============================  ==================================================
task                    endpoint                         request → answer
======================  ===============================  ==================================================
``text_to_image``       ``POST /v1/images/generations``  JSON ``{model, prompt, n, response_format:
                                                         "b64_json", size?, quality?, style?}`` → JSON
                                                         ``{"data": [{"b64_json"}]}``
``text_to_speech``      ``POST /v1/audio/speech``        JSON ``{model, input, voice ("alloy"),
                                                         response_format ("mp3"), speed?}`` → audio bytes
``text_to_music``       ``POST /v1/audio/music``         JSON ``{model, prompt, response_format ("mp3"),
                                                         duration?}`` → audio bytes
``speech_to_text``      ``POST /v1/audio/transcriptions`` multipart ``model``, ``file`` (the first audio
                                                         media input), ``response_format=json``,
                                                         ``language?`` → JSON ``{"text"}``
======================  ===============================  ==================================================

The model is ``selector.model``, else ``params.model``, else the client's; ``selector.provider`` (else
``params.provider``) prefixes it as ``<provider>/<model>`` like chat calls.  Non-2xx answers raise the
same typed errors as chat (:func:`~.openai_format.error_for_status`, including ``retry_after_s``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from typing import Any

from ...errors import LLMCallError, LLMConnectionError, LLMResponseError, MediaInputError
from .http_sender import decode_body
from .media import MediaInput
from .openai_format import error_for_status

__all__ = ["MEDIA_ENDPOINTS", "encode_multipart", "request_media"]

MEDIA_ENDPOINTS: dict[str, str] = {
    "text_to_image": "/v1/images/generations",
    "text_to_speech": "/v1/audio/speech",
    "text_to_music": "/v1/audio/music",
    "speech_to_text": "/v1/audio/transcriptions",
}
_IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}
_AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}


def encode_multipart(
    fields: Mapping[str, str], files: list[tuple[str, str, str, bytes]]
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body: ``(body, content type with boundary)``.

    Args:
        fields: plain form fields.
        files: ``(field name, file name, content type, bytes)`` entries.
    """
    boundary = f"abstractruntime-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        chunks.append(head.encode("utf-8") + value.encode("utf-8") + b"\r\n")
    for name, filename, content_type, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        chunks.append(head.encode("utf-8") + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _model(selector: Mapping[str, Any], params: Mapping[str, Any], default: str) -> str:
    chosen = str(selector.get("model") or params.get("model") or default)
    provider = selector.get("provider") or params.get("provider")
    if isinstance(provider, str) and provider.strip() and "/" not in chosen:
        chosen = f"{provider.strip()}/{chosen}"
    return chosen


def _format(selector: Mapping[str, Any], known: Mapping[str, str], default: str) -> str:
    value = selector.get("format") or selector.get("response_format") or default
    fmt = str(value).strip().lower()
    if fmt not in known:
        raise MediaInputError(f"unsupported output format {fmt!r}; expected one of {sorted(known)}")
    return fmt


def _image_body(selector: Mapping[str, Any], model: str, prompt: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": prompt, "n": int(selector.get("n") or 1)}
    for key in ("size", "quality", "style"):
        if selector.get(key) is not None:
            body[key] = selector[key]
    body["response_format"] = "b64_json"
    return body


def _audio_body(task: str, selector: Mapping[str, Any], model: str, prompt: str, fmt: str) -> dict[str, Any]:
    if task == "text_to_speech":
        body: dict[str, Any] = {
            "model": model,
            "input": prompt,
            "voice": str(selector.get("voice") or "alloy"),
        }
        extra = ("speed",)
    else:
        body = {"model": model, "prompt": prompt}
        extra = ("duration",)
    body["response_format"] = fmt
    for key in extra:
        if selector.get(key) is not None:
            body[key] = selector[key]
    return body


def _images(answer: Any, content_type: str, url: str) -> list[dict[str, Any]]:
    data = answer.get("data") if isinstance(answer, Mapping) else None
    items: list[dict[str, Any]] = []
    for entry in data if isinstance(data, list) else []:
        encoded = entry.get("b64_json") if isinstance(entry, Mapping) else None
        if not isinstance(encoded, str):
            continue
        try:
            items.append({"content": base64.b64decode(encoded, validate=True), "content_type": content_type})
        except (binascii.Error, ValueError) as exc:
            raise LLMResponseError(
                f"image answer from {url} holds invalid base64: {exc}", status=200, url=url
            ) from exc
    if not items:
        raise LLMResponseError(
            f"image answer from {url} has no data[].b64_json: {str(answer)[:200]!r}", status=200, url=url
        )
    return items


def _encode_request(
    task: str, selector: Mapping[str, Any], model: str, prompt: str, media: list[MediaInput]
) -> tuple[bytes, str, str]:
    """``(body, content type, output format)`` of one media request."""
    if task == "text_to_image":
        fmt = _format(selector, _IMAGE_TYPES, "png")
        return json.dumps(_image_body(selector, model, prompt)).encode("utf-8"), "application/json", fmt
    if task == "speech_to_text":
        audio = next((item for item in media if item.kind == "audio"), None)
        if audio is None:
            raise MediaInputError("speech_to_text needs an audio media input (wav or mp3)")
        fields = {"model": model, "response_format": "json"}
        if selector.get("language"):
            fields["language"] = str(selector["language"])
        body, content_type = encode_multipart(
            fields, [("file", audio.name, audio.content_type, audio.content)]
        )
        return body, content_type, "json"
    fmt = _format(selector, _AUDIO_TYPES, "mp3")
    body = json.dumps(_audio_body(task, selector, model, prompt, fmt)).encode("utf-8")
    return body, "application/json", fmt


def request_media(
    *,
    base_url: str,
    default_model: str,
    sender: Any,
    headers: Mapping[str, str],
    timeout_s: float | None,
    task: str,
    selector: Mapping[str, Any],
    prompt: str,
    media: list[MediaInput],
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Send one media request (see the module docstring).

    Args:
        base_url: the server root (without ``/v1``).
        default_model: the client's model.
        sender: a :class:`~.http_sender.BytesRequestSender`.
        headers: the request headers (authentication, trace id); Content-Type and Accept are set here.
        timeout_s: the request timeout in seconds (None: no limit).
        task: a key of :data:`MEDIA_ENDPOINTS`.
        selector: the output selector (``format``, ``voice``, ``size``, ``language``, ``model``, ...).
        prompt: the text to draw, speak or set to music (unused for transcription).
        media: resolved media inputs (transcription sends the first audio one).
        params: the call's params (``model``, ``provider``).

    Returns:
        ``{"task", "model", "items": [{"content": bytes, "content_type"}], "text"?}`` (``text`` for
        transcription, which has no items).

    Raises:
        LLMCallError: a typed HTTP failure, an answer of the wrong shape, or a sender without ``send_bytes``;
            MediaInputError for an unknown format or a transcription without audio input.
    """
    if task not in MEDIA_ENDPOINTS:
        raise MediaInputError(f"unsupported media task {task!r}; expected one of {sorted(MEDIA_ENDPOINTS)}")
    send_bytes = getattr(sender, "send_bytes", None)
    if not callable(send_bytes):
        raise LLMCallError(
            f"the request sender {type(sender).__name__} has no send_bytes method: it cannot call media endpoints",
            retryable=False,
        )
    url = base_url + MEDIA_ENDPOINTS[task]
    model = _model(selector, params, default_model)
    body, content_type, fmt = _encode_request(task, selector, model, prompt, media)
    request_headers = dict(headers)
    request_headers["Content-Type"] = content_type
    if task in ("text_to_speech", "text_to_music"):
        request_headers["Accept"] = "*/*"
    try:
        status, raw_headers, answer = send_bytes(
            "POST", url, headers=request_headers, body=body, timeout_s=timeout_s
        )
    except LLMCallError:
        raise
    except OSError as exc:
        raise LLMConnectionError(f"LLM server unreachable at {url}: {exc}", url=url) from exc
    answer_headers = {str(k).lower(): str(v) for k, v in dict(raw_headers).items()}
    if not 200 <= int(status) < 300:
        raise error_for_status(
            int(status), answer_headers, decode_body(answer.decode("utf-8", "replace")), url=url
        )
    result: dict[str, Any] = {"task": task, "model": model, "items": []}
    if task == "text_to_image":
        result["items"] = _images(decode_body(answer.decode("utf-8", "replace")), _IMAGE_TYPES[fmt], url)
    elif task == "speech_to_text":
        parsed = decode_body(answer.decode("utf-8", "replace"))
        text = parsed.get("text") if isinstance(parsed, Mapping) else parsed
        if not isinstance(text, str):
            raise LLMResponseError(
                f"transcription answer from {url} has no text", status=int(status), url=url
            )
        result["text"] = text
    else:
        if not answer:
            raise LLMResponseError(f"audio answer from {url} is empty", status=int(status), url=url)
        sent_type = answer_headers.get("content-type", "").split(";")[0].strip().lower()
        audio_type = sent_type if sent_type.startswith("audio/") else _AUDIO_TYPES[fmt]
        result["items"] = [{"content": bytes(answer), "content_type": audio_type}]
    return result
