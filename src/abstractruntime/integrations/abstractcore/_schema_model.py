"""A Pydantic model from a JSON schema, for AbstractCore's ``response_model`` (structured output, SPEC §11.2).

Supported: an ``object`` schema whose ``properties`` use ``string``, ``integer``, ``number``, ``boolean``,
``array`` (of any of these, or of nested objects), ``object`` (nested properties become nested models; without
properties, a free dict) and ``enum`` (``Literal``); required properties have no default, the others default to
None.  Anything else is typed ``Any``.  Pydantic comes with AbstractCore (the ``abstractcore`` extra).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from ._abstractcore import import_abstractcore_module

__all__ = ["pydantic_model_from_schema"]

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _identifier(name: str) -> str:
    cleaned = re.sub(r"\W+", "_", name).strip("_") or "Response"
    return cleaned if not cleaned[0].isdigit() else f"M_{cleaned}"


def _field_type(schema: Any, name: str, pydantic: Any) -> Any:
    if not isinstance(schema, Mapping):
        return Any
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int | float | bool) for v in enum):
        return Literal[tuple(enum)]
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        return list[_field_type(schema.get("items"), f"{name}_item", pydantic)]  # type: ignore[misc]
    if kind == "object" or isinstance(schema.get("properties"), Mapping):
        if isinstance(schema.get("properties"), Mapping) and schema["properties"]:
            return _model(schema, name, pydantic)
        return dict[str, Any]
    return Any


def _model(schema: Mapping[str, Any], name: str, pydantic: Any) -> Any:
    properties = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    fields: dict[str, Any] = {}
    for prop, sub in dict(properties or {}).items():
        annotation = _field_type(sub, f"{name}_{prop}", pydantic)
        fields[str(prop)] = (annotation, ...) if prop in required else (annotation | None, None)
    return pydantic.create_model(_identifier(name), **fields)


def pydantic_model_from_schema(schema: Mapping[str, Any], *, name: str = "Response") -> Any:
    """A Pydantic model class for the JSON object ``schema`` (see the module docstring).

    Raises:
        MissingExtraError: pydantic is not installed (it comes with the ``abstractcore`` extra).
    """
    pydantic = import_abstractcore_module("pydantic", feature="structured output (response_schema)")
    return _model(schema, name, pydantic)
