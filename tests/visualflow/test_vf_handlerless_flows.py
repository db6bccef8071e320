"""Every handler-free example flow runs on the SQLite store and produces its golden output.

Golden records live in ``golden_outputs.json`` (made by ``regen_golden.py``, each checked by reading the flow).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from handlerless_support import GOLDEN_PATH, SCENARIOS, handlerless_files, load_by_file, run_flow
from vf_support import EXAMPLES_DIR

pytestmark = pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason="example flows not available")

_BY_FILE = load_by_file() if EXAMPLES_DIR.is_dir() else {}
_FILES = handlerless_files(_BY_FILE)
_GOLDEN: dict[str, Any] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


def test_handlerless_set_is_known() -> None:
    assert len(_FILES) == 13
    assert sorted(_FILES) == sorted(SCENARIOS) == sorted(_GOLDEN)


@pytest.mark.parametrize("file_name", _FILES)
def test_handlerless_flow_matches_golden(file_name: str, tmp_path: Path) -> None:
    record = run_flow(file_name, _BY_FILE, tmp_path)
    assert (tmp_path / "runs.db").is_file()
    assert record == _GOLDEN[file_name]
    expected_status = "waiting" if "max_waits" in SCENARIOS[file_name] else "completed"
    assert record["status"] == expected_status
    if expected_status == "completed":
        assert record["output"]["success"] is True
