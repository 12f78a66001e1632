"""Sticky canary routing: the share is the weight, and a retried id lands where it did."""

from __future__ import annotations

import hashlib

import pytest

from modelops.rollout.routing import rollout_salt, routes_to_challenger, share


@pytest.mark.parametrize("weight", [0.05, 0.1, 0.5, 0.9])
def test_share_of_ten_thousand_ids_is_within_two_percent_of_the_weight(weight: float) -> None:
    salt = rollout_salt("churn", 3)
    taken = sum(routes_to_challenger(f"order-{i}", weight, salt) for i in range(10_000))
    assert abs(taken / 10_000 - weight) <= 0.02


def test_routing_is_stable_per_id_and_across_calls() -> None:
    salt = rollout_salt("churn", 3)
    first = [routes_to_challenger(f"id-{i}", 0.3, salt) for i in range(2000)]
    again = [routes_to_challenger(f"id-{i}", 0.3, salt) for i in range(2000)]
    assert first == again
    # The documented definition (sha256 of "<salt>:<id>", first 8 bytes): a change of the
    # function would silently re-route every id of a running canary.
    digest = hashlib.sha256(b"churn:challenger:v3:order-1234").digest()
    assert share("order-1234", salt) == int.from_bytes(digest[:8], "big") / 2**64


def test_boundaries_of_the_weight() -> None:
    salt = rollout_salt("churn", 2)
    value = share("order-7", salt)
    assert routes_to_challenger("order-7", value + 1e-12, salt)
    assert not routes_to_challenger("order-7", value, salt)  # strictly below
    assert all(routes_to_challenger(f"x{i}", 1.0, salt) for i in range(500))
    assert not any(routes_to_challenger(f"x{i}", 0.0, salt) for i in range(500))


def test_a_larger_weight_keeps_every_id_the_smaller_one_took() -> None:
    """Ramping a canary up never moves an id back to the champion."""
    salt = rollout_salt("churn", 4)
    small = {i for i in range(5000) if routes_to_challenger(str(i), 0.1, salt)}
    large = {i for i in range(5000) if routes_to_challenger(str(i), 0.25, salt)}
    assert small < large


def test_each_rollout_takes_different_ids() -> None:
    a = {i for i in range(5000) if routes_to_challenger(str(i), 0.1, rollout_salt("churn", 2))}
    b = {i for i in range(5000) if routes_to_challenger(str(i), 0.1, rollout_salt("churn", 3))}
    assert len(a & b) < 0.3 * len(a)
