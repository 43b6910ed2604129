"""Property: any small frame written as CSV, Parquet, JSON Lines or JSON reads back unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from conveyor.config.models import SourceConfig
from conveyor.data.sources import read_source

# Letters that cannot spell true/false/nan/inf/null, so CSV type inference keeps them text.
TEXT = st.text(alphabet="abcdxyzABCDXYZ _-", min_size=1, max_size=8).filter(
    lambda s: s.strip() == s and s != ""
)
KINDS = {
    "int": (st.integers(min_value=-(2**63), max_value=2**63 - 1), pl.Int64),
    "float": (st.floats(allow_nan=False, allow_infinity=False, width=64), pl.Float64),
    "str": (TEXT, pl.String),
    "bool": (st.booleans(), pl.Boolean),
}


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    names = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    n_rows = draw(st.integers(min_value=1, max_value=12))
    columns = {}
    for name in names:
        values_st, dtype = KINDS[draw(st.sampled_from(sorted(KINDS)))]
        # The first value is never null, so every column's type can be inferred from the file.
        first = draw(values_st)
        rest = draw(st.lists(st.none() | values_st, min_size=n_rows - 1, max_size=n_rows - 1))
        columns[name] = pl.Series(name, [first, *rest], dtype=dtype)
    return pl.DataFrame(columns)


def _round_trip(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / f"x.{kind}"
        if kind == "csv":
            frame.write_csv(path)
        elif kind == "parquet":
            frame.write_parquet(path)
        elif kind == "jsonl":
            frame.write_ndjson(path)
        else:
            frame.write_json(path)
        return read_source(SourceConfig(path=path.name), root=root)


@settings(max_examples=60, deadline=None)
@given(frames(), st.sampled_from(["csv", "parquet", "jsonl", "json"]))
def test_values_round_trip(frame: pl.DataFrame, kind: str) -> None:
    back = _round_trip(frame, kind)
    # JSON writes integral floats as e.g. 1.0 but a column of only ints as ints; CSV
    # likewise. Types must round-trip for every format Polars writes self-describingly.
    assert_frame_equal(back, frame, check_dtypes=kind == "parquet")
    for name, dtype in frame.schema.items():
        assert back[name].dtype == dtype or (dtype == pl.Float64 and back[name].dtype.is_numeric())
