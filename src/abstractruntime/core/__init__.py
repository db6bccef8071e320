"""The durable kernel: models, workflow specs, the Runtime and its configuration (SPEC §1.3).

Only :mod:`.models` loads with the package: ``from abstractruntime.core.models import RunState`` does not
import the step engine.  The other names load on first access (PEP 562, ``abstractruntime._lazy``).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .models import Effect, EffectType, LimitWarning, RunState, RunStatus, StepPlan, WaitReason, WaitState

if TYPE_CHECKING:  # the real imports, for static typing; at run time these load on first access
    from .config import RuntimeConfig
    from .runtime import Runtime
    from .spec import WorkflowSpec
    from .vars import LIMITS, ensure_limits, get_limits

__all__ = [
    "Effect",
    "EffectType",
    "LimitWarning",
    "LIMITS",
    "RunState",
    "RunStatus",
    "Runtime",
    "RuntimeConfig",
    "StepPlan",
    "WaitReason",
    "WaitState",
    "WorkflowSpec",
    "ensure_limits",
    "get_limits",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        ".config": ("RuntimeConfig",),
        ".runtime": ("Runtime",),
        ".spec": ("WorkflowSpec",),
        ".vars": ("LIMITS", "ensure_limits", "get_limits"),
    },
)
