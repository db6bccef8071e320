"""docs/llm.md "Tools and approvals": the snippet runs as written (in a temporary workspace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


def tools_snippet() -> str:
    section = DOC.read_text(encoding="utf-8").split("## Tools and approvals", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_tools_snippet_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snippet = tools_snippet()
    assert '"/tmp/demo-workspace"' in snippet
    code = snippet.replace('"/tmp/demo-workspace"', repr(str(tmp_path / "ws")))
    namespace: dict = {"__name__": "tools_doc"}
    exec(compile(code, str(DOC), "exec"), namespace)
    state = namespace["state"]
    assert state.status.value == "completed"
    outputs = [r["output"] for r in state.output["results"]]
    assert outputs == [{"ok": True, "file_path": "hello.txt", "bytes": 2}, "hi"]
    assert (tmp_path / "ws" / "hello.txt").read_text() == "hi"
    printed = capsys.readouterr().out
    assert "[w1] write_file(" in printed and "{'ok': True" in printed
