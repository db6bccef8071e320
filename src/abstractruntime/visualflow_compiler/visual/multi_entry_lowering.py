"""Multi-entry lowering (SPEC §9.2 step 1): join_exec + path_mux nodes for targets with several exec inputs.

The join node records its routes (``data.routes = [{key, sourceNodeId, sourceHandle}]``) so that at run time
it can compute ``which`` route was taken from ``_temp.prev_node_id`` / ``_temp.prev_exec_handle``.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import Diagnostic, VisualFlowError
from .models import VisualEdge, VisualFlow, VisualNode

__all__ = ["JOIN_PREFIX", "MUX_PREFIX", "lower_multi_entry"]

JOIN_PREFIX = "__internal_join_exec__"
MUX_PREFIX = "__internal_path_mux__"


def _fail(flow: VisualFlow, node_id: str, message: str) -> VisualFlowError:
    return VisualFlowError(
        message, diagnostics=[Diagnostic("multi_entry", message, node_id)], flow_id=flow.id
    )


def _routes(flow: VisualFlow, target: VisualNode, incoming: list[VisualEdge]) -> list[dict[str, str]]:
    pairs = [(e.source, e.source_handle) for e in incoming]
    if len(set(pairs)) != len(pairs):
        raise _fail(flow, target.id, f"Duplicate exec edges into node '{target.id}'")
    declared = target.data.get("entryRoutes")
    if not isinstance(declared, list) or not declared:
        return [{"key": f"{s}::{h}", "sourceNodeId": s, "sourceHandle": h} for s, h in pairs]
    routes: list[dict[str, str]] = []
    for item in declared:
        if not isinstance(item, dict):
            raise _fail(flow, target.id, f"Invalid entryRoutes item on '{target.id}'")
        src, handle = str(item.get("sourceNodeId", "")), str(item.get("sourceHandle", "exec-out"))
        routes.append(
            {"key": str(item.get("key") or f"{src}::{handle}"), "sourceNodeId": src, "sourceHandle": handle}
        )
    keys = [r["key"] for r in routes]
    if len(set(keys)) != len(keys):
        raise _fail(flow, target.id, f"Duplicate entryRoutes keys on '{target.id}'")
    if sorted((r["sourceNodeId"], r["sourceHandle"]) for r in routes) != sorted(pairs):
        raise _fail(
            flow, target.id, f"Stale entryRoutes on '{target.id}': routes do not match the exec edges"
        )
    return routes


def _check_overrides(
    flow: VisualFlow, target: VisualNode, overrides: dict[str, Any], index: dict[str, int]
) -> None:
    """Stale ``inputRouteOverrides``: a route key no route has, or a source node the flow lacks."""
    ids = {n.id for n in flow.nodes}
    problems: list[str] = []
    for pin, by_route in overrides.items():
        if not isinstance(by_route, dict):
            problems.append(f"pin '{pin}': overrides must be an object of route keys")
            continue
        for key, src in by_route.items():
            if key not in index:
                problems.append(f"pin '{pin}': unknown route key '{key}' (routes: {sorted(index)})")
            elif not isinstance(src, dict) or str(src.get("sourceNodeId") or "") not in ids:
                node = src.get("sourceNodeId") if isinstance(src, dict) else src
                problems.append(f"pin '{pin}': route '{key}' reads from missing node '{node}'")
    if problems:
        message = f"Stale inputRouteOverrides on '{target.id}': " + "; ".join(problems)
        raise _fail(flow, target.id, message)


def _add_muxes(flow: VisualFlow, target: VisualNode, join_id: str, routes: list[dict[str, str]]) -> None:
    overrides = target.data.get("inputRouteOverrides")
    if not isinstance(overrides, dict):
        return
    index = {r["key"]: i for i, r in enumerate(routes)}
    _check_overrides(flow, target, overrides, index)
    for pin, by_route in overrides.items():
        if not isinstance(by_route, dict):
            continue
        mux_id = f"{MUX_PREFIX}{target.id}__{pin}"
        mux = VisualNode(
            mux_id, "path_mux", {"_internal": True, "inputs": [], "outputs": [{"id": "out", "type": "any"}]}
        )
        flow.nodes.append(mux)
        flow.edges.append(VisualEdge(join_id, mux_id, "which", "select"))
        for key, src in by_route.items():
            if isinstance(src, dict):
                handle = str(src.get("sourceHandle") or "result")
                flow.edges.append(VisualEdge(str(src["sourceNodeId"]), mux_id, handle, f"in{index[key]}"))
        original = [e for e in flow.edges if e.target == target.id and e.target_handle == pin]
        for edge in original:
            flow.edges.remove(edge)
            flow.edges.append(VisualEdge(edge.source, mux_id, edge.source_handle, "fallback"))
        if not original and pin in target.pin_defaults:
            mux.data["pinDefaults"] = {"fallback": copy.deepcopy(target.pin_defaults[pin])}
        flow.edges.append(VisualEdge(mux_id, target.id, "out", str(pin)))


def lower_multi_entry(flow: VisualFlow) -> VisualFlow:
    """Return a copy of ``flow`` where every exec target with > 1 incoming exec edge goes through a join."""
    out = copy.deepcopy(flow)
    by_id = out.node_map()
    for target_id in list(dict.fromkeys(e.target for e in out.edges if e.is_exec)):
        incoming = [e for e in out.edges if e.is_exec and e.target == target_id]
        target = by_id.get(target_id)
        if len(incoming) < 2 or target is None:
            continue
        routes = _routes(out, target, incoming)
        join_id = f"{JOIN_PREFIX}{target_id}"
        pins: list[dict[str, Any]] = [{"id": "exec-in", "type": "execution"}]
        out_pins: list[dict[str, Any]] = [
            {"id": "exec-out", "type": "execution"},
            {"id": "which", "type": "number"},
        ]
        out.nodes.append(
            VisualNode(
                join_id,
                "join_exec",
                {"_internal": True, "routes": routes, "inputs": pins, "outputs": out_pins},
            )
        )
        for edge in incoming:
            edge.target = join_id
        out.edges.append(VisualEdge(join_id, target_id, "exec-out", "exec-in"))
        _add_muxes(out, target, join_id, routes)
    return out
