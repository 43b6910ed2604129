"""Conformance suites every backend must pass, for Conveyor's tests and for plug-in authors.

Example:
    >>> import pytest
    >>> from conveyor.testing import ARTIFACT_CHECKS
    >>> @pytest.mark.parametrize("check", ARTIFACT_CHECKS, ids=lambda c: c.__name__)
    ... def test_my_backend(check, tmp_path):
    ...     check(ArtifactStore(MyBackend()), tmp_path)
"""

from conveyor.testing.artifact_suite import ARTIFACT_CHECKS, ESCAPING_KEYS, ArtifactCheck
from conveyor.testing.metadata_suite import (
    METADATA_CHECKS,
    MetadataCheck,
    StoreFactory,
    expect_error,
)

__all__ = [
    "ARTIFACT_CHECKS",
    "ESCAPING_KEYS",
    "METADATA_CHECKS",
    "ArtifactCheck",
    "MetadataCheck",
    "StoreFactory",
    "expect_error",
]
