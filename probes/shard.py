"""Which prober replica owns a target: rendezvous (highest-random-weight) hashing on the id.

Every replica computes the owner of every target from nothing but the target's id and the
replica count, so N processes (or the N pods of the prober's StatefulSet, shard K taken from
the pod's ordinal) split the targets with no coordination: each active target is probed by
exactly one of them. Going from N to N+1 replicas moves only the targets the new replica wins,
about 1/(N+1) of them; modulo hashing would move about N/(N+1).

``--shard auto`` needs no replica count at all: the pod's ordinal comes from its host name, and
the peers are the ordinals of the prober sessions with a fresh heartbeat. A new pod is seen by
the others at their next target reload (at most 30 s); a pod that stops beating has its targets
taken over once its heartbeat is ``peer_stale_s`` old.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

AUTO = "auto"  # --shard auto: the ordinal from the host name, the peers from the database
# A heartbeat older than this many intervals (and PEER_STALE_MIN_S) is a peer that is gone.
PEER_STALE_INTERVALS = 3
PEER_STALE_MIN_S = 15.0
_ORDINAL = re.compile(r"-(\d+)$")


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


def owner_among(target_id: int, peers: Iterable[int]) -> int:
    """The peer ordinal that probes this target; with peers 0..N-1 the same as ``shard_owner``.

    Ordinals need not be contiguous: a StatefulSet scaled down from 3 to 2, or a pod that
    crashed, leaves a set like {0, 2}, and the targets of the missing peer spread over the rest.
    """
    ordinals = set(peers)
    if not ordinals:
        raise ValueError("no peers")
    return max(ordinals, key=lambda ordinal: _weight(target_id, ordinal))


def ordinal_from_hostname(hostname: str) -> int:
    """K of a StatefulSet pod named ``clfwatch-prober-K``; ValueError for other names."""
    match = _ORDINAL.search(hostname)
    if match is None:
        raise ValueError(
            f"--shard auto needs a host name ending in -<number> (a StatefulSet pod), got {hostname[:60]!r}"
        )
    return int(match.group(1))


def peer_stale_s(interval_s: float) -> float:
    """How long a peer's heartbeat may be silent before its targets are taken over."""
    return max(PEER_STALE_INTERVALS * interval_s, PEER_STALE_MIN_S)
