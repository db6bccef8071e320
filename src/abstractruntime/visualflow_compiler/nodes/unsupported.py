"""Node types this runtime recognizes but cannot run: media and catalog nodes.

There is no media effect (image/voice generation, transcription, listening) nor a provider/model catalog in
the kernel (SPEC §2 effect types), so these nodes do **not** pass through: they fail the run as a node error
(``success: False``, ``_flow_error``, ``_flow_error_node``) and persist tool-shaped outputs
``{ok: False, success: False, error, results: [{name, success: False, error}]}`` for inspection.
"""

from __future__ import annotations

from ...core.models import StepPlan
from .env import ExecEnv, Runner

__all__ = ["MEDIA_TYPES", "CATALOG_TYPES", "UNSUPPORTED_RUNNERS"]

MEDIA_TYPES = ("generate_image", "generate_voice", "transcribe_audio", "listen_voice")
CATALOG_TYPES = ("model_catalog", "provider_catalog")


def _unsupported(env: ExecEnv) -> StepPlan:
    node_type = env.node.node_type
    kind = "media" if node_type in MEDIA_TYPES else "catalog"
    message = (
        f"node '{env.node_id}' of type '{node_type}' is not supported: this runtime has no {kind} "
        "capability (no effect handler exists for it)"
    )
    env.save_outputs(
        {
            "ok": False,
            "success": False,
            "error": message,
            "results": [{"name": node_type, "success": False, "error": message}],
        }
    )
    return env.fail(message)


UNSUPPORTED_RUNNERS: dict[str, Runner] = {t: _unsupported for t in MEDIA_TYPES + CATALOG_TYPES}
