"""Rendering helpers for people (SPEC §10.3): JSON text and Markdown agent-trace reports."""

from .agent_trace_report import render_agent_trace_markdown
from .json_stringify import JsonStringifyMode, stringify_json

__all__ = ["JsonStringifyMode", "render_agent_trace_markdown", "stringify_json"]
