"""The ``abstractcore`` extra stays optional (SPEC §1, §11.1, §15): importing the integration never imports it,
and the local-mode names raise ``MissingExtraError`` naming the extra when it is absent.

Each check runs in a fresh interpreter so ``sys.modules`` reflects only what the import did; absence is
simulated with ``sys.modules['abstractcore'] = None`` (Python then refuses to import the package).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import abstractruntime.integrations.abstractcore as integration
from abstractruntime.integrations.abstractcore import factory, llm_client, tool_executor

LOCAL_NAMES = (
    "LocalAbstractCoreLLMClient",
    "MultiLocalAbstractCoreLLMClient",
    "AbstractCoreToolExecutor",
    "create_local_runtime",
    "create_hybrid_runtime",
    "create_local_file_runtime",
)


def _run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_importing_the_integration_and_llm_client_does_not_import_abstractcore() -> None:
    result = _run(
        """
        import json, sys
        import abstractruntime.integrations.abstractcore as pkg
        import abstractruntime.integrations.abstractcore.llm_client
        import abstractruntime.integrations.abstractcore.tool_executor
        import abstractruntime.integrations.abstractcore.local_client
        names = [pkg.LocalAbstractCoreLLMClient, pkg.AbstractCoreToolExecutor, pkg.create_local_runtime]
        print(json.dumps({"loaded": sorted(m for m in sys.modules if m.split(".")[0] == "abstractcore")}))
        """
    )
    assert result["loaded"] == []


def test_local_names_raise_missing_extra_naming_abstractcore_when_it_is_absent() -> None:
    result = _run(
        """
        import json, os, sys, tempfile
        sys.modules["abstractcore"] = None  # as if the package were not installed
        base = os.path.join(tempfile.mkdtemp(), "runs")
        from abstractruntime.errors import MissingExtraError
        from abstractruntime.integrations import abstractcore as pkg
        calls = {
            "LocalAbstractCoreLLMClient": lambda: pkg.LocalAbstractCoreLLMClient(provider="ollama", model="m"),
            "MultiLocalAbstractCoreLLMClient": lambda: pkg.MultiLocalAbstractCoreLLMClient(provider="ollama", model="m"),
            "AbstractCoreToolExecutor": lambda: pkg.AbstractCoreToolExecutor(timeout_s=1),
            "create_local_runtime": lambda: pkg.create_local_runtime(provider="ollama", model="m"),
            "create_hybrid_runtime": lambda: pkg.create_hybrid_runtime(server_base_url="http://x", model="m"),
            "create_local_file_runtime": lambda: pkg.create_local_file_runtime(
                base_dir=base, provider="ollama", model="m"
            ),
        }
        out = {}
        for name, call in calls.items():
            try:
                call()
                out[name] = "no error"
            except MissingExtraError as exc:
                out[name] = [exc.extra, exc.module, isinstance(exc, ImportError), "abstractcore" in str(exc)]
        out["files_created"] = os.path.exists(base)
        print(json.dumps(out))
        """
    )
    assert result.pop("files_created") is False
    assert result == {name: ["abstractcore", "abstractcore", True, True] for name in LOCAL_NAMES}


def test_local_names_are_public_at_the_documented_paths() -> None:
    for name in LOCAL_NAMES:
        assert name in integration.__all__
    assert "RuntimeConfig" in integration.__all__
    assert {"LocalAbstractCoreLLMClient", "MultiLocalAbstractCoreLLMClient"} <= set(llm_client.__all__)
    assert "AbstractCoreToolExecutor" in tool_executor.__all__
    assert {"create_local_runtime", "create_hybrid_runtime", "create_local_file_runtime"} <= set(
        factory.__all__
    )
    assert integration.RuntimeConfig is factory.RuntimeConfig


def test_loading_abstractcore_leaves_the_hosts_root_logger_alone() -> None:
    """AbstractCore's import sets the root logger to ERROR with a stdout handler; the runtime undoes that."""
    code = textwrap.dedent(
        """
        import logging
        from abstractruntime.errors import MissingExtraError
        from abstractruntime.integrations.abstractcore._abstractcore import import_abstractcore_module

        root = logging.getLogger()
        root.setLevel(logging.INFO)
        try:
            import_abstractcore_module(feature="test")
        except MissingExtraError:
            print("absent")
        else:
            print(root.level, len(root.handlers))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() in {"absent", f"{logging.INFO} 0"}


def test_resolved_media_reach_abstractcore_as_its_media_dicts() -> None:
    """The LLM_CALL handler resolves media to ``MediaInput``; the local client hands AbstractCore its dict form."""
    from abstractruntime.integrations.abstractcore.local_client import _abstractcore_media
    from abstractruntime.integrations.abstractcore.media import MediaInput

    image = MediaInput(content=b"\x89PNG", content_type="image/png", name="a.png", source="artifact:x")
    converted = _abstractcore_media([image, "/already/a/path.png"])
    assert converted is not None
    assert converted[0]["media_type"] == "image"
    assert converted[0]["content_format"] == "base64"
    assert converted[1] == "/already/a/path.png"
    assert _abstractcore_media(None) is None
    assert _abstractcore_media(image) == [image.to_abstractcore()]
