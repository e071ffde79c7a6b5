"""Fixtures for the LLM tests: the demo LLM on a real uvicorn (delays near zero).

LiteLLM's proxy (``litellm_proxy``) is in tests/conftest.py: the probe and stress tests use it too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm.servers import LlmServer, demo_llm_server


@pytest.fixture(scope="module")
def demo_llm() -> Iterator[LlmServer]:
    with demo_llm_server() as server:
        yield server

