"""``ActorFingerprint``: a deterministic actor id derived from who the actor is (SPEC §7.11).

``actor_id = "ar_" + sha256(canonical_json({"kind", "display_name", "metadata" or {}}))[:24]``, where
canonical JSON is ``sort_keys=True, separators=(",", ":"), ensure_ascii=False`` (the form the hash
chain uses, SPEC §7.10), encoded as UTF-8.  The same description always yields the same id, in any
process.  The runtime itself only copies ``actor_id`` strings into RunState and StepRecord.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..core.jsonable import find_non_json_safe
from ..errors import NotJsonSafeError

__all__ = ["ActorFingerprint", "canonical_json"]


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, non-ASCII kept.

    Raises:
        NotJsonSafeError (TypeError): ``value`` holds something JSON cannot represent.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        found = find_non_json_safe(value, "actor")
        where, type_name = found if found is not None else ("actor", type(exc).__name__)
        raise NotJsonSafeError(path=where, type_name=type_name) from exc


@dataclass(frozen=True)
class ActorFingerprint:
    """Who drives a run.

    Attributes:
        actor_id: the id copied into ``RunState.actor_id`` / ``StepRecord.actor_id``.
        kind: ``"agent"``, ``"human"`` or ``"service"`` (not enforced).
        display_name: a human-readable name, if any.
        metadata: free-form JSON-safe details, if any.
    """

    actor_id: str
    kind: str
    display_name: str | None = None
    metadata: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"actor_id", "kind", "display_name", "metadata"}`` (``metadata`` as given, possibly None)."""
        return {
            "actor_id": self.actor_id,
            "kind": self.kind,
            "display_name": self.display_name,
            "metadata": self.metadata,
        }

    @classmethod
    def from_metadata(
        cls, *, kind: str, display_name: str | None = None, metadata: dict[str, Any] | None = None
    ) -> ActorFingerprint:
        """A fingerprint whose ``actor_id`` is derived from ``kind``, ``display_name`` and ``metadata``.

        Returns:
            ``ActorFingerprint("ar_" + <24 hex chars>, kind, display_name, metadata)``.

        Raises:
            NotJsonSafeError (TypeError): ``metadata`` is not JSON-safe.
        """
        payload = {"kind": kind, "display_name": display_name, "metadata": metadata or {}}
        digest = hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
        return cls(actor_id=f"ar_{digest[:24]}", kind=kind, display_name=display_name, metadata=metadata)
