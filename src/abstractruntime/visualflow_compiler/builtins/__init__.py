"""Pure builtins of the VisualFlow compiler (SPEC §9.1): literal, math, string, logic, data and JSON nodes.

Each entry of :data:`PURE_BUILTINS` is called as ``fn(inputs_by_pin_id, node_data)`` and returns
``{output_pin_id: value}``. ``inputs_by_pin_id`` holds the resolved input pins (missing ones are completed
from ``node_data["pinDefaults"]``); ``node_data`` is the node's ``data`` object. Builtins are tolerant: missing
or odd inputs fall back to sensible defaults; :class:`BuiltinError` is raised only for genuinely invalid use.

Randomness and the clock are injectable: :func:`set_random_source` / :func:`set_clock` module-wide, or per node
with ``node_data["_rng"]`` (a ``random.Random``) and ``node_data["_now"]`` (a datetime or a callable).
"""

from __future__ import annotations

from ._common import BuiltinError, PureFn, get_path, set_clock, set_path, set_random_source
from .data_ops import DATA_BUILTINS
from .json_ops import JSON_BUILTINS, parse_json_text
from .literals import LITERAL_BUILTINS
from .logic_ops import LOGIC_BUILTINS
from .math_ops import MATH_BUILTINS
from .misc_ops import MISC_BUILTINS
from .string_ops import STRING_BUILTINS

__all__ = [
    "BuiltinError",
    "LITERAL_TYPES",
    "PURE_BUILTINS",
    "PureFn",
    "get_path",
    "parse_json_text",
    "set_clock",
    "set_path",
    "set_random_source",
]

PURE_BUILTINS: dict[str, PureFn] = {
    **LITERAL_BUILTINS,
    **MATH_BUILTINS,
    **STRING_BUILTINS,
    **LOGIC_BUILTINS,
    **DATA_BUILTINS,
    **JSON_BUILTINS,
    **MISC_BUILTINS,
}
"""Every pure/literal/data node type, by VisualFlow ``type``."""

LITERAL_TYPES: frozenset[str] = frozenset(LITERAL_BUILTINS)
"""Node types whose value comes from ``data.literalValue`` and needs no inputs."""
