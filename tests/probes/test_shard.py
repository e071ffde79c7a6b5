"""The shard arithmetic: every target has exactly one owner, and adding a replica moves few."""

from __future__ import annotations

import pytest

from probes.shard import in_shard, shard_owner

TARGET_IDS = range(1, 601)


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 5])
def test_every_target_is_owned_by_exactly_one_replica(replicas: int) -> None:
    for target_id in TARGET_IDS:
        owners = [k for k in range(replicas) if in_shard(target_id, (k, replicas))]
        assert owners == [shard_owner(target_id, replicas)]


@pytest.mark.parametrize("replicas", [2, 3, 4, 5])
def test_replicas_get_fair_shares(replicas: int) -> None:
    counts = [0] * replicas
    for target_id in TARGET_IDS:
        counts[shard_owner(target_id, replicas)] += 1
    fair = len(TARGET_IDS) / replicas
    assert all(0.7 * fair < c < 1.3 * fair for c in counts), counts


@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_adding_a_replica_moves_only_what_the_new_one_takes(replicas: int) -> None:
    moved = [t for t in TARGET_IDS if shard_owner(t, replicas) != shard_owner(t, replicas + 1)]
    # Rendezvous hashing: a target moves only to the new replica, never between old ones.
    assert all(shard_owner(t, replicas + 1) == replicas for t in moved)
    assert len(moved) < 1.4 * len(TARGET_IDS) / (replicas + 1)
