"""Canary routing: stable hashing of request keys and the traffic share."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.serve.routing import CanaryRouter, record_keys, stable_fraction


@given(st.text())
def test_stable_fraction_is_in_unit_interval_and_deterministic(key: str) -> None:
    value = stable_fraction(key)
    assert 0.0 <= value < 1.0
    assert stable_fraction(key) == value


def test_stable_fraction_is_the_sha256_prefix() -> None:
    digest = hashlib.sha256(b"customer-42").digest()
    assert stable_fraction("customer-42") == int.from_bytes(digest[:8], "big") / 2**64


@given(st.text(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_raising_the_share_never_moves_a_key_back(key: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    if CanaryRouter(low).to_challenger(key):
        assert CanaryRouter(high).to_challenger(key)


def test_same_key_same_side_and_share_close_to_traffic() -> None:
    router = CanaryRouter(0.3)
    keys = [f"k{i}" for i in range(4000)]
    first = router.split(keys)
    assert router.split(keys) == first
    share = sum(first) / len(first)
    assert abs(share - 0.3) < 0.03  # ~4 standard deviations of a binomial(4000, 0.3) share


def test_keyless_records_are_random_at_the_share() -> None:
    router = CanaryRouter(0.25, rng=random.Random(7))
    picks = router.split([None] * 4000)
    assert abs(sum(picks) / 4000 - 0.25) < 0.03
    assert len(set(picks)) == 2


def test_zero_and_full_traffic() -> None:
    assert not any(CanaryRouter(0.0).split([None, "a", "b"]))
    assert all(CanaryRouter(1.0).split([None, "a", "b"]))


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), True, "0.5", None])
def test_traffic_outside_unit_interval_is_refused(bad: object) -> None:
    router = CanaryRouter(0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        router.traffic = bad  # type: ignore[assignment]
    assert router.traffic == 0.1
    with pytest.raises(ValueError):
        CanaryRouter(bad)  # type: ignore[arg-type]


def test_record_keys_header_wins_then_field() -> None:
    records = [{"customer_id": 7}, {"customer_id": None}, {}, "not a record"]
    assert record_keys(records, header="h", key_field="customer_id") == ["h"] * 4
    assert record_keys(records, header=None, key_field="customer_id") == ["7", None, None, None]
    assert record_keys(records, header="", key_field=None) == [None] * 4
