"""LLM_CALL media inputs (SPEC §11.2 ``media``): resolve them at call time, send them as chat content parts.

Accepted ``media`` values (a single one or a list; nested lists are flattened):

* a path string, or ``{"path": ...}`` (optional ``content_type``/``mime_type``, ``name``/``filename``);
* an artifact reference ``{"$artifact": id}`` or ``{"artifact_id": id}`` (read from the artifact store);
* inline data ``{"data"|"base64": <base64 str>, "content_type", "name"?}`` or text ``{"text": str, "name"?}``.

Flows are untrusted, so the LLM_CALL handler reads a path only through the run's workspace policy
(``workspace_root`` and friends, SPEC §11.4): a run without ``workspace_root`` cannot send files, and a path
the policy refuses fails the call.  A client called directly by host code (``client.generate(media=...)``)
reads any path.  Every input must fit the byte limit: host var ``_runtime.max_media_bytes``, else env
``ABSTRACTRUNTIME_MAX_MEDIA_BYTES``, else :data:`DEFAULT_MAX_MEDIA_BYTES` (a payload ``max_media_bytes``
may only lower it).

On the wire (OpenAI chat completions), the user turn's content becomes a list of parts: the text first, then
per input an ``image_url`` part with a ``data:`` URL (``image/*``), an ``input_audio`` part (wav, mp3) or a
text part ``"[file: <name>]\\n<text>"`` (``text/*``, JSON, XML, YAML, CSV).  Other types fail the call.

Errors are :class:`~abstractruntime.errors.MediaInputError` (never retried):
:class:`~abstractruntime.errors.MediaNotFoundError` for a missing artifact or file,
:class:`~abstractruntime.errors.MediaTooLargeError` over the limit.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import MediaInputError, MediaNotFoundError, MediaTooLargeError
from ...storage.artifacts import ARTIFACT_REF_KEY
from ...visualflow_compiler.nodes.workspace import WorkspaceError, WorkspacePolicy
from ._tool_workspace import resolve_tool_path

__all__ = [
    "DEFAULT_MAX_MEDIA_BYTES",
    "MAX_MEDIA_BYTES_ENV",
    "MediaInput",
    "attach_media",
    "media_content_part",
    "media_limit",
    "resolve_media",
]

DEFAULT_MAX_MEDIA_BYTES = 20 * 1024 * 1024
MAX_MEDIA_BYTES_ENV = "ABSTRACTRUNTIME_MAX_MEDIA_BYTES"
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/yaml", "application/x-yaml"})
_EXTRA_TYPES = {
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".mp3": "audio/mpeg",
}


@dataclass(frozen=True)
class MediaInput:
    """One resolved media input: its bytes, MIME type, a display name and where it came from.

    ``source`` is ``"artifact:<id>"``, ``"path:<absolute path>"`` or ``"inline"``.
    """

    content: bytes
    content_type: str
    name: str
    source: str

    @property
    def kind(self) -> str:
        """``image``, ``audio`` (wav/mp3), ``text`` or ``file`` (anything else)."""
        if self.content_type.startswith("image/"):
            return "image"
        if self.content_type in _AUDIO_FORMATS:
            return "audio"
        if self.content_type.startswith("text/") or self.content_type in _TEXT_TYPES:
            return "text"
        return "file"

    def to_abstractcore(self) -> dict[str, Any]:
        """The dict AbstractCore's ``MediaContent.from_dict`` reads, for in-process clients (SPEC §15):
        ``{media_type, content, content_format, mime_type, metadata: {filename, source}}``; text inputs
        are sent as text, everything else as base64."""
        kind = self.kind
        text = kind == "text"
        content = self.content.decode("utf-8", "replace") if text else base64.b64encode(self.content).decode()
        return {
            "media_type": kind if kind in ("image", "audio", "text") else "document",
            "content": content,
            "content_format": "text" if text else "base64",
            "mime_type": self.content_type,
            "metadata": {"filename": self.name, "source": self.source},
        }

    def describe(self) -> dict[str, Any]:
        """``{name, content_type, size_bytes, source}`` (JSON-safe, for result metadata)."""
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size_bytes": len(self.content),
            "source": self.source,
        }


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def media_limit(
    runtime_vars: Any, payload: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> int:
    """The media byte limit (see the module docstring): host setting, lowered by ``payload.max_media_bytes``."""
    env = os.environ if env is None else env
    host = (
        _positive_int(runtime_vars.get("max_media_bytes")) if isinstance(runtime_vars, Mapping) else None
    ) or (_positive_int(env.get(MAX_MEDIA_BYTES_ENV)) or DEFAULT_MAX_MEDIA_BYTES)
    asked = _positive_int((payload or {}).get("max_media_bytes"))
    return min(host, asked) if asked else host


def _guess_type(name: str, given: Any = None) -> str:
    if isinstance(given, str) and given.strip():
        return given.strip().lower()
    suffix = Path(name).suffix.lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class _Resolver:
    store: Any
    policy: WorkspacePolicy | None
    trusted_paths: bool
    limit: int

    def check_size(self, size: int, name: str) -> None:
        if size > self.limit:
            raise MediaTooLargeError(
                f"media {name!r} is {size} bytes, over the limit of {self.limit} bytes "
                "(_runtime.max_media_bytes / ABSTRACTRUNTIME_MAX_MEDIA_BYTES)",
                size_bytes=size,
                limit_bytes=self.limit,
            )

    def from_path(self, raw: Any, spec: Mapping[str, Any]) -> MediaInput:
        if not isinstance(raw, str) or not raw.strip():
            raise MediaInputError(f"media path must be a non-empty string, got {raw!r}")
        if self.policy is not None:
            try:
                path = Path(resolve_tool_path(self.policy, raw, write=False))
            except WorkspaceError as exc:
                raise MediaInputError(f"workspace policy refused media path {raw!r}: {exc}") from exc
        elif self.trusted_paths:
            path = Path(os.path.expanduser(raw.strip())).resolve()
        else:
            raise MediaInputError(
                f"media path {raw!r} refused: this run has no workspace (vars.workspace_root); "
                "send files as artifacts instead"
            )
        if not path.is_file():
            raise MediaNotFoundError(f"media file not found: {raw!r}", path=str(path))
        self.check_size(path.stat().st_size, raw)
        name = str(spec.get("name") or spec.get("filename") or path.name)
        content_type = _guess_type(path.name, spec.get("content_type") or spec.get("mime_type"))
        return MediaInput(path.read_bytes(), content_type, name, f"path:{path}")

    def from_artifact(self, artifact_id: Any, spec: Mapping[str, Any]) -> MediaInput:
        if not isinstance(artifact_id, str) or not artifact_id.strip():
            raise MediaInputError(f"media artifact id must be a non-empty string, got {artifact_id!r}")
        if self.store is None:
            raise MediaInputError(
                f"media artifact {artifact_id!r} cannot be read: no artifact store is configured"
            )
        meta = self.store.get_metadata(artifact_id)
        if meta is not None:
            self.check_size(int(meta.size_bytes), artifact_id)
        artifact = self.store.load(artifact_id)
        if artifact is None:
            raise MediaNotFoundError(f"media artifact not found: {artifact_id!r}", artifact_id=artifact_id)
        self.check_size(len(artifact.content), artifact_id)
        name = str(
            spec.get("name") or spec.get("filename") or artifact.metadata.tags.get("filename") or artifact_id
        )
        given = spec.get("content_type") or spec.get("mime_type")
        content_type = _guess_type(name, given or artifact.content_type)
        if content_type == "application/octet-stream" and not given:
            content_type = _guess_type(name)
        return MediaInput(artifact.content, content_type, name, f"artifact:{artifact_id}")

    def from_inline(self, spec: Mapping[str, Any]) -> MediaInput:
        name = str(spec.get("name") or spec.get("filename") or "inline")
        if isinstance(spec.get("text"), str):
            data = spec["text"].encode("utf-8")
            content_type = _guess_type(name, spec.get("content_type") or "text/plain")
        else:
            encoded = spec.get("data", spec.get("base64"))
            if not isinstance(encoded, str):
                raise MediaInputError(f"media data must be a base64 string, got {type(encoded).__name__}")
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MediaInputError(f"media data of {name!r} is not valid base64: {exc}") from exc
            content_type = _guess_type(name, spec.get("content_type") or spec.get("mime_type"))
        self.check_size(len(data), name)
        return MediaInput(data, content_type, name, "inline")

    def resolve(self, value: Any) -> MediaInput:
        if isinstance(value, MediaInput):
            return value
        if isinstance(value, str):
            return self.from_path(value, {})
        if not isinstance(value, Mapping):
            raise MediaInputError(f"unsupported media value of type {type(value).__name__}")
        if ARTIFACT_REF_KEY in value or "artifact_id" in value:
            return self.from_artifact(value.get(ARTIFACT_REF_KEY, value.get("artifact_id")), value)
        if "path" in value or "file_path" in value:
            return self.from_path(value.get("path", value.get("file_path")), value)
        if any(key in value for key in ("data", "base64", "text")):
            return self.from_inline(value)
        raise MediaInputError(
            f"unsupported media dict (keys {sorted(value)}); use path, $artifact/artifact_id, data or text"
        )


def _flatten(value: Any) -> list[Any]:
    if value is None or (isinstance(value, (str, list)) and not value):
        return []
    if isinstance(value, (list, tuple)):
        return [item for entry in value for item in _flatten(entry)]
    return [value]


def resolve_media(
    value: Any,
    *,
    artifact_store: Any = None,
    policy: WorkspacePolicy | None = None,
    trusted_paths: bool = False,
    limit_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
) -> list[MediaInput]:
    """The :class:`MediaInput` list of an LLM_CALL ``media`` value (see the module docstring).

    Args:
        value: a media value, a list of them, or None/empty (gives ``[]``); resolved inputs pass through.
        artifact_store: where ``{"$artifact": id}`` / ``{"artifact_id": id}`` are read.
        policy: the run's workspace policy; paths are checked and resolved through it.
        trusted_paths: without a policy, read any path (host code only); otherwise paths are refused.
        limit_bytes: the largest input accepted.

    Raises:
        MediaInputError: a value of the wrong shape, a refused path, no artifact store;
            MediaNotFoundError and MediaTooLargeError as described above.
    """
    resolver = _Resolver(artifact_store, policy, trusted_paths, limit_bytes)
    return [resolver.resolve(item) for item in _flatten(value)]


def media_content_part(item: MediaInput) -> dict[str, Any]:
    """The OpenAI chat content part for one input (see the module docstring).

    Raises:
        MediaInputError: the type cannot be sent to a chat model (not image, wav/mp3 or text).
    """
    kind = item.kind
    if kind == "image":
        data = base64.b64encode(item.content).decode("ascii")
        return {"type": "image_url", "image_url": {"url": f"data:{item.content_type};base64,{data}"}}
    if kind == "audio":
        data = base64.b64encode(item.content).decode("ascii")
        return {
            "type": "input_audio",
            "input_audio": {"data": data, "format": _AUDIO_FORMATS[item.content_type]},
        }
    if kind == "text":
        try:
            text = item.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MediaInputError(f"media {item.name!r} ({item.content_type}) is not UTF-8 text") from exc
        return {"type": "text", "text": f"[file: {item.name}]\n{text}"}
    raise MediaInputError(
        f"media {item.name!r} has type {item.content_type!r}, which cannot be sent to a chat model "
        "(images, wav/mp3 audio and text files can)"
    )


def attach_media(messages: list[dict[str, Any]], items: list[MediaInput]) -> None:
    """Turn the last ``user`` message of a chat body into ``[text part, media parts...]`` (in place).

    A user message with no text gets only the media parts; without any user message one is appended.
    """
    if not items:
        return
    parts = [media_content_part(item) for item in items]
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                message["content"] = [*content, *parts]
            else:
                text = [{"type": "text", "text": content}] if isinstance(content, str) and content else []
                message["content"] = [*text, *parts]
            return
    messages.append({"role": "user", "content": parts})
