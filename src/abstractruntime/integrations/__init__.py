"""Optional integrations (SPEC §11). Importing this package imports no integration and no extra."""

from __future__ import annotations

__all__: list[str] = []
