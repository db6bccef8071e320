"""LLM_CALL media outputs over real HTTP: images, speech, music, transcription; artifacts and exact requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_media_helpers import run_call

from abstractruntime.errors import MediaInputError
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.integrations.abstractcore.media_output import media_output_request, output_selector
from abstractruntime.storage.artifacts import InMemoryArtifactStore
from abstractruntime.testing import (
    FakeClock,
    OpenAIStubServer,
    StubResponse,
    image_generation,
    multipart_fields,
)
from abstractruntime.testing.openai_stub import STUB_AUDIO, STUB_PNG

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt fake"


@pytest.fixture
def llm(stub: OpenAIStubServer) -> Iterator[RemoteAbstractCoreLLMClient]:
    client = RemoteAbstractCoreLLMClient(
        server_base_url=stub.base_url, model="chat-model", timeout_s=5, headers={"Authorization": "Bearer t"}
    )
    yield client
    client.close()


@pytest.fixture
def store() -> InMemoryArtifactStore:
    return InMemoryArtifactStore()


def test_an_image_output_is_generated_and_stored_as_an_artifact(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    payload = {"prompt": "a red cube", "output": {"modality": "image", "size": "256x256", "model": "img-1"}}
    state = run_call(llm, payload, artifact_store=store)
    assert state.status.value == "completed", state.error
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/images/generations")
    assert request.headers["authorization"] == "Bearer t"
    assert request.json == {
        "model": "img-1",
        "prompt": "a red cube",  # generated-media prompts are never grounded
        "n": 1,
        "size": "256x256",
        "response_format": "b64_json",
    }
    result = state.output["llm"]
    (image,) = result["outputs"]["image"]
    artifact_id = image["artifact_id"]
    assert image == {
        "modality": "image",
        "task": "text_to_image",
        "artifact_id": artifact_id,
        "artifact_ref": {"$artifact": artifact_id, "content_type": "image/png"},
        "content_type": "image/png",
        "size_bytes": len(STUB_PNG),
    }
    assert (result["content"], result["media_model"], result["media_provider"]) == (None, "img-1", None)
    stored = store.load(artifact_id)
    assert stored is not None and stored.content == STUB_PNG
    assert stored.metadata.run_id == state.run_id
    assert stored.metadata.tags["kind"] == "generated_media"
    assert "runtime_grounding" not in result["metadata"]


def test_several_images_and_a_provider_prefix(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    stub.push(image_generation(b"one", b"two"))
    payload = {"prompt": "two cats", "outputs": [{"modality": "image", "n": 2, "format": "webp"}]}
    payload["params"] = {"provider": "openai", "model": "dall-e"}
    state = run_call(llm, payload, artifact_store=store)
    assert stub.requests[0].json["model"] == "openai/dall-e"
    images = state.output["llm"]["outputs"]["image"]
    assert [store.load(i["artifact_id"]).content for i in images] == [b"one", b"two"]  # type: ignore[union-attr]
    assert {i["content_type"] for i in images} == {"image/webp"}
    assert state.output["llm"]["media_provider"] == "openai"


def test_voice_output_posts_to_audio_speech_and_stores_the_bytes(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    payload = {"prompt": "Hello there", "output": {"modality": "voice", "voice": "nova", "format": "wav"}}
    stub.push(StubResponse.binary(b"RIFFvoice", "audio/wav"))
    state = run_call(llm, payload, artifact_store=store)
    assert state.status.value == "completed", state.error
    (request,) = stub.requests
    assert request.path == "/v1/audio/speech"
    assert request.json == {
        "model": "chat-model",
        "input": "Hello there",
        "voice": "nova",
        "response_format": "wav",
    }
    (voice,) = state.output["llm"]["outputs"]["voice"]
    assert voice["task"] == "text_to_speech" and voice["content_type"] == "audio/wav"
    assert store.load(voice["artifact_id"]).content == b"RIFFvoice"  # type: ignore[union-attr]


def test_music_output_uses_the_music_endpoint(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    state = run_call(llm, {"prompt": "calm piano", "output": "music"}, artifact_store=store)
    assert stub.requests[0].path == "/v1/audio/music"
    assert stub.requests[0].json == {"model": "chat-model", "prompt": "calm piano", "response_format": "mp3"}
    (music,) = state.output["llm"]["outputs"]["music"]
    assert store.load(music["artifact_id"]).content == STUB_AUDIO  # type: ignore[union-attr]
    assert music["content_type"] == "audio/mpeg"


def test_transcription_sends_the_audio_input_as_multipart_without_a_prompt(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    audio = store.store(WAV, content_type="audio/wav", tags={"filename": "memo.wav"})
    payload = {
        "media": {"$artifact": audio.artifact_id},
        "output": {"modality": "text", "task": "transcription", "language": "en", "model": "whisper-1"},
    }
    state = run_call(llm, payload, artifact_store=store)
    assert state.status.value == "completed", state.error
    (request,) = stub.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert multipart_fields(request) == {
        "model": "whisper-1",
        "response_format": "json",
        "language": "en",
        "file": ("memo.wav", "audio/wav", WAV),
    }
    result = state.output["llm"]
    assert result["content"] == "stub transcript"
    assert result["outputs"] == {
        "text": [{"modality": "text", "task": "speech_to_text", "text": "stub transcript"}]
    }


def test_generated_media_without_an_artifact_store_fails_clearly(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    state = run_call(llm, {"prompt": "a cube", "output": {"modality": "image"}})
    assert state.status.value == "failed"
    assert "MediaInputError: image output needs an artifact store" in state.error
    assert stub.requests == []


def test_a_rate_limited_image_request_is_retried_after_retry_after(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    stub.push(StubResponse.error(429, "busy", headers={"Retry-After": "9"}))
    clock = FakeClock()
    state = run_call(llm, {"prompt": "x", "output": "image"}, artifact_store=store, clock=clock)
    assert state.status.value == "completed", state.error
    assert clock.sleeps == [9.0]
    assert [r.path for r in stub.requests] == ["/v1/images/generations"] * 2


def test_a_server_error_on_speech_fails_with_the_typed_error(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, store: InMemoryArtifactStore
) -> None:
    stub.push(StubResponse.error(404, "no such voice model"))
    state = run_call(llm, {"prompt": "x", "output": "voice"}, artifact_store=store)
    assert state.error == (
        "Effect failed after 1 attempts: LLMNotFoundError: LLM endpoint or model not found (HTTP 404) at "
        f"{stub.base_url}/v1/audio/speech: no such voice model"
    )


def test_selector_precedence_and_validation() -> None:
    payload = {"params": {"output": {"modality": "voice"}}, "output": "image", "outputs": ["music"]}
    assert output_selector(payload) == {"modality": "voice"}
    assert output_selector({"output": "image", "outputs": ["music"]}) == {"modality": "image"}
    assert output_selector({"outputs": ["music", "image"]}) == {"modality": "music"}
    assert output_selector({"prompt": "p"}) is None
    assert media_output_request({"output": {"modality": "text"}}) is None
    request = media_output_request({"output": {"modality": "text", "task": "stt"}})
    assert request is not None and request.task == "speech_to_text"
    with pytest.raises(MediaInputError, match="unsupported output modality 'video'"):
        media_output_request({"output": "video"})


def test_an_unknown_output_modality_fails_the_call(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    state = run_call(llm, {"prompt": "x", "output": {"modality": "video"}})
    assert "MediaInputError: unsupported output modality 'video'" in state.error
    assert stub.requests == []
