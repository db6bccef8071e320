"""Default pins of every node type the compiler knows (SPEC §9.1), as the editor's node registry has them.

Each entry is ``type: (inputs, outputs)``; a pin list is a space-separated string of ``id:type`` tokens,
where a leading ``>`` marks an ``execution`` pin and a bare ``id`` means type ``any``.  The pins were mined
from the 140 example flows (the pins most instances of a type carry) and completed from what each runner
reads and writes.  Types whose data pins are chosen by the author (``on_flow_start`` outputs,
``on_flow_end`` inputs, ``break_object`` outputs, ``make_object``...) list only their fixed pins: the
registry adds the pins the document's edges use (see :mod:`.node_registry`).
"""

from __future__ import annotations

__all__ = ["DATA_PINS", "EXEC_PINS"]

EXEC_PINS: dict[str, tuple[str, str]] = {
    # entry / events
    "on_flow_start": ("", ">exec-out"),
    "on_user_request": ("", ">exec-out"),
    "on_agent_message": ("", ">exec-out"),
    "on_flow_end": (">exec-in", ""),
    "on_event": ("", ">exec-out payload event_id:string"),
    "on_schedule": ("schedule:string recurrent:boolean", ">exec-out timestamp:string"),
    "emit_event": (
        ">exec-in name:string scope:string payload session_id:string",
        ">exec-out delivered:number delivered_to:array wait_key:string",
    ),
    "wait_event": (
        ">exec-in event_key:string prompt:string choices:array allow_free_text:boolean",
        ">exec-out event_data:object payload",
    ),
    "wait_until": (">exec-in duration:number until:string", ">exec-out timestamp:string"),
    # control
    "if": (">exec-in condition:boolean", ">true >false"),
    "switch": (">exec-in value", ">default"),
    "while": (">exec-in condition:boolean", ">loop >done index:number item"),
    "for": (">exec-in start:number end:number step:number", ">loop >done i:number index:number"),
    "loop": (">exec-in items:array", ">loop >done item index:number"),
    "sequence": (">exec-in", ">then:0 >then:1"),
    "parallel": (">exec-in", ">then:0 >then:1 >completed"),
    "join_exec": (">exec-in", ">exec-out which:number"),
    # core execution
    "agent": (
        ">exec-in task:string system:string context:object include_context:boolean provider:provider "
        "model:model tools:tools max_iterations:number temperature:number seed:number response_schema:object",
        ">exec-out response:string result:object scratchpad:object meta:object tool_calls:array "
        "tool_results:array success:boolean",
    ),
    "code": (">exec-in input", ">exec-out output"),
    "function": (">exec-in input", ">exec-out output"),
    "subflow": (">exec-in inherit_context:boolean input:object", ">exec-out output:object result:object"),
    # user
    "ask_user": (">exec-in prompt:string choices:array", ">exec-out response:string"),
    "answer_user": (">exec-in message:string level:string", ">exec-out message:string"),
    # LLM, tools, models, media
    "llm_call": (
        ">exec-in prompt:string system:string provider:provider model:model tools:tools "
        "include_context:boolean response_schema:object temperature:number seed:number memory:memory "
        "context:object max_input_tokens:number max_output_tokens:number",
        ">exec-out response:string result:object tool_calls:array meta:object success:boolean",
    ),
    "tool_calls": (
        ">exec-in tool_calls:array allowed_tools:array",
        ">exec-out results:array success:boolean",
    ),
    "call_tool": (
        ">exec-in tool_call:object allowed_tools:array",
        ">exec-out result success:boolean results:array error:string",
    ),
    "model_residency": (
        ">exec-in operation:string provider:provider model:model task:string",
        ">exec-out ok:boolean success:boolean raw:object",
    ),
    "generate_image": (
        ">exec-in prompt:string provider:provider model:model media_provider:provider media_model:model "
        "size:string n:number format:string",
        ">exec-out image:object images:array artifact_id:string result:object ok:boolean success:boolean",
    ),
    "generate_voice": (
        ">exec-in text:string provider:provider model:model media_provider:provider media_model:model "
        "voice:string format:string language:string",
        ">exec-out audio:object artifact_id:string result:object ok:boolean success:boolean",
    ),
    "transcribe_audio": (
        ">exec-in audio:object provider:provider model:model media_provider:provider media_model:model "
        "language:string prompt:string",
        ">exec-out text:string response:string result:object ok:boolean success:boolean",
    ),
    "listen_voice": (
        ">exec-in prompt:string scope:string language:string max_seconds:number",
        ">exec-out text:string transcript:string audio:object ok:boolean success:boolean",
    ),
    "model_catalog": (">exec-in provider:provider", ">exec-out models:array ok:boolean"),
    "provider_catalog": (">exec-in", ">exec-out providers:array ok:boolean"),
    # memory
    "memory_note": (
        ">exec-in content:string scope:string tags:object sources:object keep_in_context:boolean "
        "location:string",
        ">exec-out note_id:string",
    ),
    "memory_query": (
        ">exec-in query:string limit:number tags:object tags_mode:string usernames:array locations:array "
        "since:string until:string scope:string recall_level:string",
        ">exec-out results:array rendered:string",
    ),
    "memory_tag": (
        ">exec-in span_id:string tags:object merge:boolean scope:string",
        ">exec-out success:boolean rendered:string",
    ),
    "memory_compact": (
        ">exec-in preserve_recent:number compression_mode:string focus:string",
        ">exec-out span_id:string",
    ),
    "memory_rehydrate": (
        ">exec-in span_ids:array placement:string max_messages:number",
        ">exec-out inserted:number skipped:number",
    ),
    "memory_kg_assert": (
        ">exec-in assertions:assertions scope:string span_id:string owner_id:string attributes_defaults:object",
        ">exec-out assertion_ids:array count:number ok:boolean raw:object",
    ),
    "memory_kg_query": (
        ">exec-in query_text:string subject:string predicate:string object:string since:string until:string "
        "active_at:string scope:string owner_id:string min_score:number max_input_tokens:number model:model "
        "limit:number",
        ">exec-out items:assertions count:number ok:boolean packets:array active_memory_text:string "
        "packed_count:number dropped:number estimated_tokens:number raw:object",
    ),
    "memory_kg_resolve": (
        ">exec-in label:string expected_type:string scope:string recall_level:string max_candidates:number "
        "min_score:number include_semantic:boolean owner_id:string",
        ">exec-out candidates:array count:number ok:boolean raw:object",
    ),
    "memact_compose": (
        ">exec-in kg_result:object stimulus:string marker:string max_items:number",
        ">exec-out ok:boolean delta:object trace:object active_memory:object memact_blocks:array "
        "memact_system_prompt:string",
    ),
    # variables / state with exec pins
    "set_var": (">exec-in name:string value", ">exec-out value"),
    "set_var_property": (">exec-in name:string key:string value", ">exec-out value:object"),
    "set_vars": (">exec-in updates:object", ">exec-out updates:object"),
    "add_message": (
        ">exec-in role:string content:string",
        ">exec-out message:object context:object task:string messages:array",
    ),
    # files
    "read_file": (
        ">exec-in file_path:string format:string max_bytes:number",
        ">exec-out content:string data bytes:number file_path:string ok:boolean",
    ),
    "write_file": (
        ">exec-in file_path:string content format:string",
        ">exec-out bytes:number file_path:string ok:boolean",
    ),
}
"""Types that are execution nodes by default (they have execution pins)."""

_BINARY_MATH = ("a:number b:number", "result:number")

DATA_PINS: dict[str, tuple[str, str]] = {
    # literals (the value comes from data.literalValue)
    "literal_string": ("", "value:string"),
    "literal_number": ("", "value:number"),
    "literal_boolean": ("", "value:boolean"),
    "literal_json": ("", "value:object"),
    "literal_array": ("", "value:array"),
    "json_schema": ("", "value:object"),
    "tools_allowlist": ("", "tools:array"),
    # variables / context
    "get_var": ("name:string default", "value"),
    "bool_var": ("", "name:string value:boolean"),
    "var_decl": ("", "name:string value"),
    "get_context": ("", "context:object task:string messages:array"),
    # math
    **{t: _BINARY_MATH for t in ("add", "subtract", "multiply", "divide", "modulo", "power")},
    "abs": ("value:number", "result:number"),
    "round": ("value:number decimals:number", "result:number"),
    "random_int": ("min:number max:number", "result:number"),
    "random_float": ("min:number max:number", "result:number"),
    # strings
    "concat": ("a:string b:string", "result:string"),
    "split": ("text:string delimiter:string", "result:array"),
    "join": ("items:array delimiter:string", "result:string"),
    "format": ("template:string values:object", "result:string"),
    "string_template": ("template:string vars:object", "result:string"),
    "uppercase": ("text:string", "result:string"),
    "lowercase": ("text:string", "result:string"),
    "trim": ("text:string", "result:string"),
    "substring": ("text:string start:number end:number", "result:string"),
    "length": ("text:string", "result:number"),
    "contains": ("text:string pattern:string", "result:boolean"),
    "replace": ("text:string pattern:string replacement:string mode:string", "result:string"),
    # logic
    "compare": ("a op:string b", "result:boolean"),
    "not": ("value:boolean", "result:boolean"),
    "and": ("a:boolean b:boolean", "result:boolean"),
    "or": ("a:boolean b:boolean", "result:boolean"),
    "coalesce": ("a b", "result"),
    # data
    "get": ("object:object key:string default", "value"),
    "set": ("object:object key:string value", "result:object"),
    "merge": ("a:object b:object", "result:object"),
    "make_object": ("", "result:object"),
    "make_array": ("a b", "result:array"),
    "array_concat": ("a:array b:array", "result:array"),
    "array_append": ("array:array item", "result:array"),
    "array_length": ("array:array", "result:number"),
    "array_map": ("items:array key:string", "result:array"),
    "array_filter": ("items:array key:string value", "result:array"),
    "array_dedup": ("array:array key:string", "result:array"),
    "get_element": ("array:array index:number default", "result found:boolean"),
    "get_random_element": ("array:array default", "result found:boolean"),
    "has_tools": ("array:array", "result:boolean"),
    "break_object": ("object:object", ""),
    "make_context": ("task:string messages:array context_extra:object", "context:object"),
    "make_meta": ("", "meta:object"),
    "make_scratchpad": ("", "scratchpad:object"),
    "path_mux": ("select:number in0 in1 fallback", "out"),
    "tool_parameters": ("tool_name:string arguments:object", "tool_call:object"),
    "provider_models": ("provider:provider allowed_models:array", "provider:provider models:array"),
    # JSON, agents, clock
    "parse_json": ("text:string", "result:object"),
    "stringify_json": ("value mode:string", "result:string"),
    "format_tool_results": ("tool_results:array", "result:string"),
    "agent_trace_report": ("scratchpad:object", "result:string"),
    "system_datetime": ("", "iso:string timezone:string utc_offset_minutes:number locale:string"),
}
"""Types that are data (pure) nodes by default: no execution pins."""
