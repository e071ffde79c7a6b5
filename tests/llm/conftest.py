"""Fixtures for the LLM tests: the demo LLM on a real uvicorn (delays near zero), LiteLLM's proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm.servers import LlmServer, demo_llm_server, litellm_proxy_server


@pytest.fixture(scope="module")
def demo_llm() -> Iterator[LlmServer]:
    with demo_llm_server() as server:
        yield server


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    """LiteLLM's proxy (from .venv-litellm, `make litellm`), started once per test session."""
    with litellm_proxy_server(tmp_path_factory.mktemp("litellm")) as server:
        yield server
