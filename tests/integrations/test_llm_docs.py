"""docs/llm.md: the main snippet runs as written against the loopback OpenAI stub."""

from __future__ import annotations

import re
from pathlib import Path

from abstractruntime.integrations.abstractcore.grounding import grounding_prefix
from abstractruntime.testing import OpenAIStubServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


def main_snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Connect a runtime to a server", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_main_snippet_runs_against_the_stub() -> None:
    snippet = main_snippet()
    assert 'server_base_url="http://localhost:11434"' in snippet
    with OpenAIStubServer(["blue"]) as stub:
        code = snippet.replace("http://localhost:11434", stub.base_url)
        namespace: dict = {"__name__": "llm_doc"}
        exec(compile(code, str(DOC), "exec"), namespace)
    state = namespace["state"]
    assert state.status.value == "completed"
    assert state.output == {"colour": "blue"}
    (request,) = stub.requests
    assert request.headers["authorization"] == "Bearer sk-..."
    system, user = request.json.pop("messages")
    assert request.json == {"model": "qwen3:4b", "stream": False, "temperature": 0}
    assert system == {"role": "system", "content": "Answer in one word."}
    grounding = state.vars["answer"]["metadata"]["runtime_grounding"]  # docs/llm.md, "Grounding"
    assert user == {"role": "user", "content": f"{grounding_prefix(grounding)}Name one colour."}


def test_error_table_lists_every_llm_error() -> None:
    from abstractruntime import errors

    text = DOC.read_text(encoding="utf-8")
    names = [n for n in errors.__all__ if n.startswith("LLM")]
    assert len(names) == 7
    assert all(f"`{name}`" in text for name in names)
