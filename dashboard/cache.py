"""A value shared by every viewer of this process, served stale while one thread recomputes it.

Why our own and not ``st.cache_data(ttl=...)``: with a TTL, Streamlit drops the entry when it
expires and the next viewer waits for the recomputation; the scoreboard takes seconds to grade,
so a page would stall every half minute. Streamlit 1.61+ has ``refresh_mode="background"``,
but it serves a stale value only up to ``runner.cacheBackgroundRefreshTTLMultiplier`` × ttl
(one process-wide option that every ``streamlit run``, AppTest and bench start would have to
set); after an idle spell the first viewer waits again. Here a value, once computed, is served
until a write forgets it: only the first view after start (or after an admin change) waits.
Tried in 2ad7353 and reverted: with it a browser test of the team page failed in every full
tests/dashboard run (passing alone); the cause was not found.

A refresh started before :func:`forget_all` is dropped when it lands, so a write is never
overwritten by a board graded before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Slot(Generic[T]):
    """The newest value of one key."""

    compute_lock: threading.Lock = field(default_factory=threading.Lock)  # one computation at a time
    value: T | None = None
    computed_at: float = 0.0  # time.monotonic() of the computation
    refreshing: bool = False
    generation: int = 0  # bumped by forget(): a refresh started before it is dropped


class StaleWhileRevalidate(Generic[T]):
    """Values per key (a database URL), older than ``ttl_s`` refreshed in a background thread."""

    def __init__(self, name: str, ttl_s: float) -> None:
        self.name = name  # the refresh thread's name and the log's ``cache=``
        self.ttl_s = ttl_s
        self._slots: dict[str, _Slot[T]] = {}
        self._lock = threading.Lock()
        with _ALL_LOCK:
            _ALL.append(self)

    def _slot(self, key: str) -> _Slot[T]:
        with self._lock:
            return self._slots.setdefault(key, _Slot())

    def forget(self) -> None:
        """Drop every value; the next ``get`` computes synchronously."""
        with self._lock:
            for slot in self._slots.values():
                slot.value = None
                slot.generation += 1

    def get(self, key: str, compute: Callable[[], T]) -> T:
        """The value of ``key``: fresh, stale (with a refresh started), or computed now if none."""
        slot = self._slot(key)
        with self._lock:
            value, generation = slot.value, slot.generation
            if (value is not None and not slot.refreshing
                    and time.monotonic() - slot.computed_at > self.ttl_s):
                slot.refreshing = True
                threading.Thread(target=self._refresh, args=(slot, generation, compute),
                                 name=f"clfwatch-{self.name}-refresh", daemon=True).start()
        if value is not None:
            return value
        with slot.compute_lock:
            with self._lock:
                if slot.value is not None:  # another viewer computed it while this one waited
                    return slot.value
                generation = slot.generation
            value = compute()
            with self._lock:
                if slot.generation == generation:
                    slot.value, slot.computed_at = value, time.monotonic()
        return value

    def _refresh(self, slot: _Slot[T], generation: int, compute: Callable[[], T]) -> None:
        try:
            with slot.compute_lock:
                value = compute()
            with self._lock:
                if slot.generation == generation:
                    slot.value, slot.computed_at = value, time.monotonic()
        except Exception as exc:  # the stale value stays; the next view tries again
            log.warning("event=cache_refresh_failed cache=%s error=%s", self.name, type(exc).__name__)
        finally:
            with self._lock:
                slot.refreshing = False


_ALL: list[StaleWhileRevalidate[Any]] = []
_ALL_LOCK = threading.Lock()


def forget_all() -> None:
    """After a write: every shared value is recomputed on its next view."""
    with _ALL_LOCK:
        caches = list(_ALL)
    for cache in caches:
        cache.forget()
