"""Evidence capture for tool calls (SPEC §10.2): provenance records stored as artifacts.

``Runtime`` captures evidence automatically for completed TOOL_CALLS steps when it has an artifact
store; :class:`EvidenceRecorder` is the building block, usable on its own.
"""

from .recorder import DEFAULT_EVIDENCE_TOOL_NAMES, EvidenceRecorder

__all__ = ["EvidenceRecorder", "DEFAULT_EVIDENCE_TOOL_NAMES"]
