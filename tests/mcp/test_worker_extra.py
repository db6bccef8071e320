"""Without the ``mcp`` package the worker exits 1 with a message naming the ``mcp-worker`` extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from abstractruntime.errors import MissingExtraError
from abstractruntime.integrations.abstractcore import mcp_worker
from abstractruntime.integrations.abstractcore._mcp_server import WorkerTools, build_server


@pytest.fixture
def no_mcp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``mcp`` import fail as if the package were not installed."""
    for name in [n for n in sys.modules if n == "mcp" or n.startswith("mcp.")] or ["mcp"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "mcp", None)


@pytest.mark.usefixtures("no_mcp")
def test_build_server_names_the_extra() -> None:
    with pytest.raises(MissingExtraError) as caught:
        build_server(WorkerTools({}), version="0")
    assert caught.value.extra == "mcp-worker" and "AbstractRuntime[mcp-worker]" in str(caught.value)


@pytest.mark.usefixtures("no_mcp")
@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_main_exits_1_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setenv("ABSTRACT_WORKER_TOKEN", "secret-token")
    code = mcp_worker.main(
        ["--toolsets", "files", "--workspace-root", str(tmp_path), "--transport", transport]
    )
    err = capsys.readouterr().err
    assert code == 1 and "pip install 'AbstractRuntime[mcp-worker]'" in err
    assert "secret-token" not in err
