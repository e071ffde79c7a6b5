"""The LLM stress suite: ten scenarios for openai-chat targets (``stress run ... --suite llm``).

The runner, evidence, storage, curl lines, crafted-request sending and the Locust machinery are
the classifier suite's (``stress.*``); this package holds what differs: the cases, the verdicts
(``core.llm_contract``'s, the prober's too) and the streamed requests.
"""
