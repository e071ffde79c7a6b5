"""Which prober replica owns a target: rendezvous (highest-random-weight) hashing on the id.

Every replica computes the owner of every target from nothing but the target's id and the
replica count, so N processes (or the N pods of the prober's StatefulSet, shard K taken from
the pod's ordinal) split the targets with no coordination: each active target is probed by
exactly one of them. Going from N to N+1 replicas moves only the targets the new replica wins,
about 1/(N+1) of them; modulo hashing would move about N/(N+1).
"""

from __future__ import annotations

import hashlib


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` to ``(K, N)`` with 0 <= K < N; ValueError otherwise."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"shard must look like K/N, got {text[:20]!r}") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"shard {k}/{n}: need 0 <= K < N")
    return k, n


def _weight(target_id: int, replica: int) -> int:
    digest = hashlib.blake2b(f"{target_id}:{replica}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_owner(target_id: int, replicas: int) -> int:
    """The replica (0 .. replicas-1) that probes this target."""
    if replicas < 1:
        raise ValueError(f"need at least one replica, got {replicas}")
    return max(range(replicas), key=lambda replica: _weight(target_id, replica))


def in_shard(target_id: int, shard: tuple[int, int]) -> bool:
    """Whether replica K of N owns this target."""
    k, n = shard
    return n == 1 or shard_owner(target_id, n) == k
