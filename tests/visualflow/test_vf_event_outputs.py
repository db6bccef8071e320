"""wait_event node outputs: event envelopes and plain resume payloads both yield the event data."""

from __future__ import annotations

from abstractruntime.visualflow_compiler.nodes.events import _event_outputs


def test_an_envelope_gives_its_payload_as_event_data() -> None:
    envelope = {"event_id": "e1", "name": "answer", "scope": "session", "payload": {"response": "Blue"}}
    outputs = _event_outputs(envelope)
    assert outputs["event_data"] == {"response": "Blue"}
    assert outputs["event_id"] == "e1"


def test_a_plain_resume_payload_is_the_event_data() -> None:
    outputs = _event_outputs({"response": "Blue"})
    assert outputs["event_data"] == {"response": "Blue"}
    assert outputs["response"] == "Blue"
