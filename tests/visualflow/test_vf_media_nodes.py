"""Media nodes run: generate_image/generate_voice/transcribe_audio as LLM_CALL with an output selector,
listen_voice as a voice WAIT_EVENT."""

from __future__ import annotations

from typing import Any

from vf_node_support import FlowRun, Recorder, one_node, run_flow

from abstractruntime.core.models import EffectType, RunStatus, WaitReason


def _generated(modality: str, task: str) -> Recorder:
    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        ref = {
            "$artifact": f"art_{modality}",
            "content_type": "image/png" if modality == "image" else "audio/mpeg",
        }
        item = {"modality": modality, "task": task, "artifact_id": f"art_{modality}", "artifact_ref": ref}
        return {"content": None, "outputs": {modality: [item]}, "metadata": {"media_task": task}}

    return Recorder(answer)


def test_generate_image_is_an_llm_call_with_an_image_selector() -> None:
    llm = _generated("image", "text_to_image")
    doc = one_node(
        "generate_image",
        {"prompt": "a red fox", "provider": "lmstudio", "model": "qwen-text", "size": "512x512"},
        ["image", "images", "artifact_id", "success"],
        effectConfig={"media_model": "flux-schnell", "n": 1},
    )
    state = run_flow(doc, {EffectType.LLM_CALL: llm})
    assert state.status == RunStatus.COMPLETED, state.error
    (payload,) = llm.payloads
    # The provider/model pins are the flow's text model: never sent as (a fallback for) the media model.
    assert payload == {
        "prompt": "a red fox",
        "output": {
            "modality": "image",
            "task": "text_to_image",
            "size": "512x512",
            "n": 1,
            "model": "flux-schnell",
        },
    }
    ref = {"$artifact": "art_image", "content_type": "image/png"}
    assert state.output == {"image": ref, "images": [ref], "artifact_id": "art_image", "success": True}


def test_generate_voice_speaks_its_text_pin() -> None:
    llm = _generated("voice", "text_to_speech")
    doc = one_node(
        "generate_voice", {"text": "hello", "voice": "alloy", "model": "text-model"}, ["audio", "success"]
    )
    state = run_flow(doc, {EffectType.LLM_CALL: llm})
    assert llm.payloads == [
        {"prompt": "hello", "output": {"modality": "voice", "task": "text_to_speech", "voice": "alloy"}}
    ]
    assert state.output == {
        "audio": {"$artifact": "art_voice", "content_type": "audio/mpeg"},
        "success": True,
    }


def test_transcribe_audio_sends_the_audio_as_media() -> None:
    llm = Recorder(lambda payload: {"content": "bonjour", "metadata": {"media_task": "speech_to_text"}})
    audio = {"$artifact": "rec_1", "content_type": "audio/wav"}
    doc = one_node("transcribe_audio", {"audio": audio, "language": "fr"}, ["text", "success"])
    state = run_flow(doc, {EffectType.LLM_CALL: llm})
    assert llm.payloads == [
        {
            "prompt": "",
            "media": audio,
            "output": {"modality": "text", "task": "transcription", "language": "fr"},
        }
    ]
    assert state.output == {"text": "bonjour", "success": True}


def test_transcribe_audio_without_audio_is_a_node_error() -> None:
    llm = Recorder()
    state = run_flow(one_node("transcribe_audio", {"language": "fr"}, ["text"]), {EffectType.LLM_CALL: llm})
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["success"] is False and "has no audio input" in state.output["error"]
    assert llm.payloads == []


def test_listen_voice_waits_for_a_voice_event_and_outputs_the_transcript() -> None:
    run = FlowRun(
        one_node("listen_voice", {"prompt": "Say something", "language": "en"}, ["text", "audio"]), {}
    )
    state = run.start()
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert state.waiting.reason == WaitReason.EVENT
    assert state.waiting.wait_key == f"evt:run:{state.run_id}:voice_input"
    assert state.waiting.prompt == "Say something"
    assert state.waiting.details is not None
    assert (
        state.waiting.details.get("kind") == "listen_voice" and state.waiting.details.get("language") == "en"
    )
    clip = {"$artifact": "clip_1", "content_type": "audio/webm"}
    done = run.resume(state, {"text": "turn on the lights", "audio": clip})
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"text": "turn on the lights", "audio": clip, "success": True}
