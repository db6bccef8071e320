"""Fixtures for the VisualFlow compiler tests."""

from __future__ import annotations

from typing import Any

import pytest
from vf_support import EXAMPLES_DIR, load_examples


@pytest.fixture(scope="session")
def example_flows() -> dict[str, dict[str, Any]]:
    if not EXAMPLES_DIR.is_dir():
        pytest.skip("example flows not available")
    return load_examples()
