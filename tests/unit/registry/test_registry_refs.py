from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.errors import ModelError
from conveyor.registry import ParsedRef, parse_ref
from conveyor.registry._refs import did_you_mean, parse_version, show_versions, validate_alias


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ParsedRef("churn", alias="champion")),
        ("churn@challenger", ParsedRef("churn", alias="challenger")),
        ("churn:3", ParsedRef("churn", version=3)),
        ("churn:v12", ParsedRef("churn", version=12)),
        ("my.model-2_x@latest", ParsedRef("my.model-2_x", alias="latest")),
        ("  churn:V4 ", ParsedRef("churn", version=4)),
    ],
)
def test_parse_ref(text: str, expected: ParsedRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("churn:latest", "'latest' is not a version number"),
        ("churn@v3", "alias 'v3' is not valid"),
        ("churn@Champion", "alias 'Champion' is not valid"),
        ("-churn", "model name '-churn' is not valid"),
        ("a b", "model name 'a b' is not valid"),
    ],
)
def test_bad_refs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_ref(text)


def test_parse_version() -> None:
    assert parse_version(3) == 3
    assert parse_version("v3") == 3
    assert parse_version("3") == 3
    assert parse_version("champion") is None
    assert parse_version(True) is None


def test_validate_alias_refuses_version_lookalikes() -> None:
    for bad in ["3", "v3", "V3", "", "x" * 65]:
        with pytest.raises(ModelError):
            validate_alias(bad)
    assert validate_alias("canary-2") == "canary-2"


def test_did_you_mean() -> None:
    assert did_you_mean("chrun", ["churn", "fraud"]) == " (did you mean 'churn'?)"
    assert did_you_mean("zzz", ["churn"]) == ""


def test_show_versions_compacts_ranges() -> None:
    assert show_versions([]) == "none"
    assert show_versions([3, 1, 2, 5, 7, 8]) == "1-3, 5, 7-8"
    long = show_versions(list(range(1, 100, 2)), limit=3)
    assert long == "…, 95, 97, 99"


@given(st.sets(st.integers(1, 500), min_size=1, max_size=60))
def test_show_versions_lists_every_version(versions: set[int]) -> None:
    text = show_versions(sorted(versions), limit=1000)
    listed: set[int] = set()
    for part in text.split(", "):
        lo, _, hi = part.partition("-")
        listed.update(range(int(lo), int(hi or lo) + 1))
    assert listed == versions


@given(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    st.one_of(st.integers(0, 10**6), st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)),
)
def test_parse_ref_round_trips(name: str, ref: int | str) -> None:
    if isinstance(ref, int):
        assert parse_ref(f"{name}:{ref}") == ParsedRef(name, version=ref)
    elif parse_version(ref) is None:
        assert parse_ref(f"{name}@{ref}") == ParsedRef(name, alias=ref)
