"""llm_call / agent nodes: the prompt pin, the memory pin's KG expansion, response_schema ``$ref`` resolution."""

from __future__ import annotations

from typing import Any

from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start
from vf_node_support import Recorder, run_flow

from abstractruntime.core.models import EffectType, RunStatus
from abstractruntime.testing import ScriptedLLM

KG_TEXT = "## KG ACTIVE MEMORY\n- ex:ada schema:name Ada Lovelace"
MEMORY = {
    "use_kg_memory": True,
    "memory_query": "ada",
    "memory_scope": "session",
    "kg_limit": 7,
    "kg_min_score": 0.3,
    "kg_max_input_tokens": 500,
    "recall_level": "urgent",
}


def llm_flow(
    defaults: dict[str, Any], *, node_type: str = "llm_call", extra: list[Any] | None = None
) -> dict[str, Any]:
    body = node(
        "llm", node_type, [EXEC, *(pin(k) for k in defaults)], [OUT, pin("response")], pinDefaults=defaults
    )
    edges = [
        edge("s", "exec-out", "llm"),
        edge("llm", "exec-out", "e"),
        edge("llm", "response", "e", "response"),
    ]
    return flow(f"f_{node_type}", [start("s"), body, end("e", "response"), *(extra or [])], edges)


def _kg(log: list[str]) -> Recorder:
    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        log.append("kg")
        return {"ok": True, "count": 1, "items": [], "active_memory_text": KG_TEXT}

    return Recorder(answer)


def _llm(log: list[str]) -> ScriptedLLM:
    def respond(payload: dict[str, Any]) -> str:
        log.append("llm")
        return "fine"

    return ScriptedLLM(responder=respond)


def test_llm_call_reads_its_prompt_pin_only() -> None:
    llm = ScriptedLLM()
    state = run_flow(
        llm_flow({"prompt": "the question", "request": "not the prompt"}), {EffectType.LLM_CALL: llm}
    )
    assert state.status == RunStatus.COMPLETED
    assert llm.calls[0]["prompt"] == "the question"
    llm = ScriptedLLM()
    run_flow(llm_flow({"request": "not the prompt"}), {EffectType.LLM_CALL: llm})
    assert llm.calls[0]["prompt"] == ""


def test_memory_pin_queries_the_kg_first_and_adds_its_block() -> None:
    log: list[str] = []
    kg, llm = _kg(log), _llm(log)
    doc = llm_flow({"prompt": "who is ada?", "system": "be brief", "memory": MEMORY})
    state = run_flow(doc, {EffectType.MEMORY_KG_QUERY: kg, EffectType.LLM_CALL: llm})
    assert state.status == RunStatus.COMPLETED and state.output == {"response": "fine", "success": True}
    assert log == ["kg", "llm"]
    assert kg.payloads == [
        {
            "query_text": "ada",
            "scope": "session",
            "limit": 7,
            "min_score": 0.3,
            "max_input_tokens": 500,
            "recall_level": "urgent",
        }
    ]
    (call,) = llm.calls
    assert call["prompt"] == "who is ada?" and call["system_prompt"] == "be brief"
    assert call["messages"] == [{"role": "system", "content": KG_TEXT}]


def test_memory_query_defaults_to_the_prompt_and_an_empty_result_adds_nothing() -> None:
    kg = Recorder(lambda payload: {"ok": True, "count": 0, "items": [], "active_memory_text": ""})
    llm = ScriptedLLM()
    memory = {"use_kg_memory": True}
    run_flow(
        llm_flow({"prompt": "hello there", "memory": memory}),
        {EffectType.MEMORY_KG_QUERY: kg, EffectType.LLM_CALL: llm},
    )
    assert kg.payloads == [{"query_text": "hello there", "scope": "all"}]
    assert "messages" not in llm.calls[0]


def test_disabled_memory_does_nothing_extra() -> None:
    for memory in (
        {"use_kg_memory": False, "memory_query": "x"},
        {},
        None,
        {"use_kg_memory": True, "enabled": False},
    ):
        log: list[str] = []
        kg, llm = _kg(log), _llm(log)
        state = run_flow(
            llm_flow({"prompt": "p", "memory": memory}),
            {EffectType.MEMORY_KG_QUERY: kg, EffectType.LLM_CALL: llm},
        )
        assert state.status == RunStatus.COMPLETED
        assert log == ["llm"] and kg.payloads == []
        assert "messages" not in llm.calls[0]


def test_memory_in_a_loop_queries_again_on_each_visit() -> None:
    """A node visited twice requests a fresh KG query (``flow_visit``), not the first visit's result."""
    loop = node(
        "loop", "for", [EXEC, pin("start"), pin("end")], [pin("loop", "execution"), pin("done", "execution")]
    )
    loop["data"]["pinDefaults"] = {"start": 0, "end": 2}
    llm_node = node("llm", "llm_call", [EXEC, pin("prompt"), pin("memory")], [OUT, pin("response")])
    llm_node["data"]["pinDefaults"] = {"prompt": "p", "memory": MEMORY}
    doc = flow(
        "loop",
        [start("s"), loop, llm_node, end("e")],
        [edge("s", "exec-out", "loop"), edge("loop", "loop", "llm"), edge("loop", "done", "e")],
    )
    log: list[str] = []
    kg, llm = _kg(log), _llm(log)
    state = run_flow(doc, {EffectType.MEMORY_KG_QUERY: kg, EffectType.LLM_CALL: llm})
    assert state.status == RunStatus.COMPLETED, state.error
    assert log == ["kg", "llm", "kg", "llm"]
    assert [p.get("flow_visit") for p in kg.payloads] == [None, 2]


def test_agent_memory_pin_puts_the_block_into_the_agent_context() -> None:
    log: list[str] = []
    kg, llm = _kg(log), _llm(log)
    doc = llm_flow({"prompt": "who is ada?", "memory": MEMORY}, node_type="agent")
    state = run_flow(doc, {EffectType.MEMORY_KG_QUERY: kg, EffectType.LLM_CALL: llm})
    assert state.status == RunStatus.COMPLETED, state.error
    assert log == ["kg", "llm"]
    assert kg.payloads[0]["query_text"] == "ada"
    assert {"role": "system", "content": KG_TEXT} in llm.calls[0]["messages"]
    assert llm.calls[0]["prompt"] == "who is ada?"


ANSWER = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def test_response_schema_ref_to_its_own_defs_is_resolved() -> None:
    llm = ScriptedLLM()
    schema = {"$ref": "#/$defs/Answer", "$defs": {"Answer": ANSWER}}
    state = run_flow(llm_flow({"prompt": "p", "response_schema": schema}), {EffectType.LLM_CALL: llm})
    sent = llm.calls[0]["response_schema"]
    assert {k: sent[k] for k in ANSWER} == ANSWER and "$ref" not in sent
    assert state.vars["_temp"]["effects"]["llm"]["data"] == {"answer": "example"}


def test_resp_schema_ref_to_a_flow_definition_and_a_known_schema() -> None:
    defs = node("defs", "json_schema", [], [pin("schema")], literalValue={"definitions": {"Out": ANSWER}})
    llm = ScriptedLLM()
    run_flow(
        llm_flow({"prompt": "p", "resp_schema": {"$ref": "#/definitions/Out"}}, extra=[defs]),
        {EffectType.LLM_CALL: llm},
    )
    assert llm.calls[0]["response_schema"] == ANSWER
    llm = ScriptedLLM()
    known = {"$ref": "abstractsemantics:kg_assertion_schema_v0"}
    run_flow(llm_flow({"prompt": "p", "response_schema": known}), {EffectType.LLM_CALL: llm})
    sent = llm.calls[0]["response_schema"]
    assert sent["required"] == ["assertions"]
    assert sent["properties"]["assertions"]["items"]["required"] == ["subject", "predicate", "object"]


def test_unknown_schema_ref_is_sent_as_is_with_a_warning() -> None:
    llm = ScriptedLLM()
    schema = {"$ref": "#/$defs/Missing"}
    state = run_flow(llm_flow({"prompt": "p", "response_schema": schema}), {EffectType.LLM_CALL: llm})
    assert llm.calls[0]["response_schema"] == schema
    assert any("'#/$defs/Missing'" in w for w in state.vars["_flow_warnings"])


def test_use_context_sends_the_run_context_and_asks_the_handler_to_append_the_turn() -> None:
    llm = ScriptedLLM()
    history = [{"role": "user", "content": "earlier"}]
    run_flow(
        llm_flow({"prompt": "p", "use_context": True}),
        {EffectType.LLM_CALL: llm},
        {"context": {"messages": history}},
    )
    assert llm.calls[0]["messages"] == history and llm.calls[0]["include_context"] is True
