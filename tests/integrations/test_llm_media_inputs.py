"""LLM_CALL media inputs over real HTTP: artifacts, workspace paths, limits, and the exact content parts sent."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from llm_media_helpers import run_call

from abstractruntime.errors import MediaInputError, MediaNotFoundError, MediaTooLargeError
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.integrations.abstractcore.media import MediaInput, media_limit, resolve_media
from abstractruntime.storage.artifacts import InMemoryArtifactStore
from abstractruntime.testing import OpenAIStubServer

PNG = b"\x89PNG\r\n\x1a\nfake-image"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt fake"
NO_GROUNDING = {"runtime_grounding": False}


@pytest.fixture
def store() -> InMemoryArtifactStore:
    return InMemoryArtifactStore()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_an_image_artifact_is_sent_as_an_image_url_data_part(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    image = store.store(PNG, content_type="image/png")
    payload = {"prompt": "What is this?", "media": {"$artifact": image.artifact_id}, **NO_GROUNDING}
    state = run_call(llm, payload, artifact_store=store)
    assert state.status.value == "completed", state.error
    assert state.output["llm"]["content"] == "echo: What is this?"
    assert stub.chat_requests[0].json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}},
            ],
        }
    ]
    observed = state.output["llm"]["metadata"]["_runtime_observability"]["llm_generate_kwargs"]["media"]
    assert observed == [
        {
            "name": image.artifact_id,
            "content_type": "image/png",
            "size_bytes": len(PNG),
            "source": f"artifact:{image.artifact_id}",
        }
    ]


def test_workspace_paths_audio_and_text_files_become_parts(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, tmp_path: Path
) -> None:
    (tmp_path / "clip.wav").write_bytes(WAV)
    (tmp_path / "notes.md").write_text("# Notes\nbuy milk", encoding="utf-8")
    payload = {"prompt": "Summarise", "media": ["clip.wav", {"path": "notes.md"}], **NO_GROUNDING}
    state = run_call(llm, payload, vars={"workspace_root": str(tmp_path)})
    assert state.status.value == "completed", state.error
    (message,) = stub.chat_requests[0].json["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Summarise"},
        {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}},
        {"type": "text", "text": "[file: notes.md]\n# Notes\nbuy milk"},
    ]


def test_media_attaches_to_the_last_user_message_when_there_is_no_prompt(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    image = store.store(PNG, content_type="image/png")
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}]
    messages.append({"role": "user", "content": "look"})
    payload = {"messages": messages, "media": [{"artifact_id": image.artifact_id}], **NO_GROUNDING}
    assert run_call(llm, payload, artifact_store=store).status.value == "completed"
    sent = stub.chat_requests[0].json["messages"]
    assert sent[:2] == messages[:2]
    assert sent[2]["content"][0] == {"type": "text", "text": "look"}
    assert sent[2]["content"][1]["type"] == "image_url"


@pytest.mark.parametrize(
    "case",
    [
        ("secret.png", None, "this run has no workspace"),
        ("../outside.png", "ws", "workspace policy refused media path '../outside.png'"),
        ("missing.png", "ws", "MediaNotFoundError: media file not found: 'missing.png'"),
        ({"$artifact": "nope"}, None, "MediaNotFoundError: media artifact not found: 'nope'"),
        ({"url": "http://x"}, None, "unsupported media dict"),
        ({"data": "!!", "content_type": "image/png"}, None, "is not valid base64"),
        ({"data": b64(b"PK.."), "name": "a.zip"}, None, "cannot be sent to a chat model"),
    ],
)
def test_bad_media_fails_at_once_without_a_request(
    stub: OpenAIStubServer,
    llm: RemoteAbstractCoreLLMClient,
    store: InMemoryArtifactStore,
    tmp_path: Path,
    case: tuple[Any, str | None, str],
) -> None:
    media, vars, error = case
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (tmp_path / "outside.png").write_bytes(PNG)
    run_vars = {"workspace_root": str(workspace)} if vars else None
    state = run_call(llm, {"prompt": "p", "media": media}, vars=run_vars, artifact_store=store)
    assert state.status.value == "failed"
    assert state.error.startswith("Effect failed after 1 attempts: Media")  # never retried
    assert error in state.error
    assert stub.chat_requests == []


def test_media_over_the_host_limit_fails(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    image = store.store(PNG, content_type="image/png")
    vars = {"_runtime": {"max_media_bytes": 8}}
    state = run_call(
        llm, {"prompt": "p", "media": {"$artifact": image.artifact_id}}, vars=vars, artifact_store=store
    )
    assert state.status.value == "failed"
    assert (
        f"MediaTooLargeError: media '{image.artifact_id}' is {len(PNG)} bytes, over the limit of 8"
        in state.error
    )
    assert stub.chat_requests == []


def test_media_limit_rules() -> None:
    assert media_limit(None, env={}) == 20 * 1024 * 1024
    assert media_limit({"max_media_bytes": 100}, env={"ABSTRACTRUNTIME_MAX_MEDIA_BYTES": "50"}) == 100
    assert media_limit(None, env={"ABSTRACTRUNTIME_MAX_MEDIA_BYTES": "50"}) == 50
    assert media_limit({"max_media_bytes": 100}, {"max_media_bytes": 10}, env={}) == 10  # a flow may lower it
    assert media_limit({"max_media_bytes": 100}, {"max_media_bytes": 10**9}, env={}) == 100  # never raise it


def test_resolve_media_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError) as missing:
        resolve_media({"$artifact": "gone"}, artifact_store=InMemoryArtifactStore())
    assert missing.value.artifact_id == "gone" and missing.value.retryable is False
    with pytest.raises(MediaInputError, match="no artifact store"):
        resolve_media({"$artifact": "x"})
    with pytest.raises(MediaTooLargeError) as large:
        resolve_media({"text": "hello"}, limit_bytes=3)
    assert (large.value.size_bytes, large.value.limit_bytes) == (5, 3)
    item = MediaInput(b"x", "image/png", "a.png", "inline")
    assert resolve_media([[item], None, []]) == [item]


def test_a_host_calling_the_client_directly_may_send_any_path(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, tmp_path: Path
) -> None:
    (tmp_path / "pic.png").write_bytes(PNG)
    llm.generate(prompt="see", media=[str(tmp_path / "pic.png")])
    parts = stub.chat_requests[0].json["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}}


def test_resolved_media_converts_for_abstractcore() -> None:
    image = MediaInput(PNG, "image/png", "a.png", "inline").to_abstractcore()
    assert image == {
        "media_type": "image",
        "content": b64(PNG),
        "content_format": "base64",
        "mime_type": "image/png",
        "metadata": {"filename": "a.png", "source": "inline"},
    }
    text = MediaInput(b"hi", "text/plain", "n.txt", "inline").to_abstractcore()
    assert (text["media_type"], text["content"], text["content_format"]) == ("text", "hi", "text")
    assert (
        MediaInput(b"PK", "application/zip", "a.zip", "inline").to_abstractcore()["media_type"] == "document"
    )
