"""Canary routing: which records the challenger answers.

A record with a key (the ``X-Request-Key`` header, else the configured record
field) is routed by ``sha256(key)`` mapped to ``[0, 1)``: the same key always
lands on the same version for a given traffic share, and raising the share only
moves keys from the champion to the challenger, never back. A record without a
key is routed at random.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

__all__ = ["REQUEST_KEY_HEADER", "CanaryRouter", "record_keys", "stable_fraction"]

REQUEST_KEY_HEADER = "x-request-key"
_SCALE = float(1 << 64)


def stable_fraction(key: str) -> float:
    """``key`` mapped to ``[0, 1)`` by the first 8 bytes of its sha256 (same key, same number)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def record_keys(
    records: Sequence[Any], *, header: str | None, key_field: str | None
) -> list[str | None]:
    """The routing key of each record: the header for all, else ``record[key_field]`` as text."""
    if header:
        return [header] * len(records)
    if not key_field:
        return [None] * len(records)
    keys: list[str | None] = []
    for record in records:
        value = record.get(key_field) if isinstance(record, dict) else None
        keys.append(None if value is None else str(value))
    return keys


class CanaryRouter:
    """Decides per record whether the challenger answers; the share can change at runtime.

    Args:
        traffic: share of records for the challenger, in ``[0, 1]``.
        rng: random source for records without a key (tests pass a seeded one).

    Example:
        >>> router = CanaryRouter(0.5)
        >>> router.to_challenger("customer-42") == router.to_challenger("customer-42")
        True
    """

    def __init__(self, traffic: float, *, rng: random.Random | None = None) -> None:
        self._traffic = 0.0
        self.traffic = traffic
        self._rng = rng or random.Random()

    @property
    def traffic(self) -> float:
        return self._traffic

    @traffic.setter
    def traffic(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"canary traffic must be a number in [0, 1], got {value!r}")
        self._traffic = float(value)  # one assignment: readers see the old or the new share

    def to_challenger(self, key: str | None) -> bool:
        """True when the record with routing key ``key`` (None: random) goes to the challenger."""
        share = self._traffic
        if share <= 0.0:
            return False
        if share >= 1.0:
            return True
        point = self._rng.random() if key is None else stable_fraction(key)
        return point < share

    def split(self, keys: Sequence[str | None]) -> list[bool]:
        """:meth:`to_challenger` for each key."""
        return [self.to_challenger(k) for k in keys]
