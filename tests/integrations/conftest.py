"""Fixtures shared by the LLM tests of this directory (a module may define its own to override them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.testing import OpenAIStubServer


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    """A fresh loopback OpenAI stub with an empty script (it echoes)."""
    with OpenAIStubServer() as server:
        yield server


@pytest.fixture
def llm(stub: OpenAIStubServer) -> Iterator[RemoteAbstractCoreLLMClient]:
    """A remote client for model ``m`` on ``stub`` (closed afterwards)."""
    client = RemoteAbstractCoreLLMClient(server_base_url=stub.base_url, model="m", timeout_s=5)
    yield client
    client.close()
