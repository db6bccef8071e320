"""Node types this runtime recognizes but cannot run: the provider/model catalog nodes.

There is no catalog capability in the kernel (SPEC §2 effect types), so ``model_catalog`` and
``provider_catalog`` do **not** pass through: they end the run as a node error (``success: False``,
``_flow_error``, ``_flow_error_node``) and persist tool-shaped outputs
``{ok: False, success: False, error, results: [{name, success: False, error}]}`` for inspection.  (The
media nodes run as LLM_CALL / WAIT_EVENT, see ``nodes/media.py``.)
"""

from __future__ import annotations

from ...core.models import StepPlan
from .env import ExecEnv, Runner

__all__ = ["CATALOG_TYPES", "UNSUPPORTED_RUNNERS"]

CATALOG_TYPES = ("model_catalog", "provider_catalog")


def _unsupported(env: ExecEnv) -> StepPlan:
    node_type = env.node.node_type
    message = (
        f"node '{env.node_id}' of type '{node_type}' is not supported: this runtime has no catalog "
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


UNSUPPORTED_RUNNERS: dict[str, Runner] = {t: _unsupported for t in CATALOG_TYPES}
