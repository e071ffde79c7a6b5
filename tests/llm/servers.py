"""LLM servers on loopback for tests: the demo LLM, faulty small servers, LiteLLM's proxy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from service.llm_demo import DEMO_MODEL, Delays, create_llm_demo_app
from tests.servers import uvicorn_thread

DEMO_KEY = "test-demo-llm-key-4b1d"  # not the default, so a test cannot pass by luck
TEST_DELAYS = Delays(ttft_s=0.002, itl_s=0.001)


@dataclass(frozen=True)
class LlmServer:
    """Where a test finds an OpenAI-compatible server: ``base_url`` ends before ``/v1``."""

    base_url: str
    key: str
    model: str

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"


@contextmanager
def demo_llm_server(*, key: str = DEMO_KEY, delays: Delays = TEST_DELAYS) -> Iterator[LlmServer]:
    """clfwatch's demo LLM on a real uvicorn in a thread."""
    with uvicorn_thread(create_llm_demo_app(key=key, delays=delays)) as url:
        yield LlmServer(base_url=url, key=key, model=DEMO_MODEL)
