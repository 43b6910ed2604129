"""The scalar evaluator and the Polars translation agree on every input."""

from __future__ import annotations

import math
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.errors import ConfigError, DataError
from conveyor.features.expressions import parse_expression

N_ROWS = 6
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.5, math.inf, -math.inf, math.nan, 1e308, 1e-308, 3.0]

floats = st.one_of(
    st.none(), st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64)
)
ints = st.one_of(st.none(), st.integers(min_value=-1000, max_value=1000))
bools = st.one_of(st.none(), st.booleans())
strings = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "", "Ä"]))

frames = st.fixed_dictionaries(
    {
        "a": st.lists(floats, min_size=N_ROWS, max_size=N_ROWS),
        "b": st.lists(floats, min_size=N_ROWS, max_size=N_ROWS),
        "i": st.lists(ints, min_size=N_ROWS, max_size=N_ROWS),
        "flag": st.lists(bools, min_size=N_ROWS, max_size=N_ROWS),
        "s": st.lists(strings, min_size=N_ROWS, max_size=N_ROWS),
    }
)
SCHEMA = {"a": pl.Float64, "b": pl.Float64, "i": pl.Int64, "flag": pl.Boolean, "s": pl.String}
KINDS = {"a": "number", "b": "number", "i": "number", "flag": "bool", "s": "string"}

number_literals = st.sampled_from(
    ["0", "1", "2", "0.5", "-1", "3.25", "1e-3", "1e308", "null", "-0.0", "7"]
)
UNARY = ["abs", "exp", "log", "log1p", "sqrt", "round"]
COMPARE = ["<", "<=", ">", ">=", "==", "!="]
BOOLEAN_LEAVES = [
    "flag",
    "true",
    "false",
    "null",
    "is_null(a)",
    "is_null(s)",
    "s == 'a'",
    "s < 'b'",
    "s in ['a', 'c']",
    "s not in ['b']",
]

numeric_exprs = st.deferred(
    lambda: st.one_of(
        st.sampled_from(["a", "b", "i", "(flag * 1)"]),
        number_literals,
        st.tuples(
            numeric_exprs, st.sampled_from(["+", "-", "*", "/", "%", "**"]), numeric_exprs
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        numeric_exprs.map(lambda x: f"-{x}"),
        st.tuples(st.sampled_from(UNARY), numeric_exprs).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(numeric_exprs, st.integers(0, 4)).map(lambda t: f"round({t[0]}, {t[1]})"),
        st.tuples(numeric_exprs, numeric_exprs, numeric_exprs).map(
            lambda t: f"clip({t[0]}, {t[1]}, {t[2]})"
        ),
        st.tuples(
            st.sampled_from(["min", "max", "coalesce"]),
            st.lists(numeric_exprs, min_size=1, max_size=3),
        ).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(boolean_exprs, numeric_exprs, numeric_exprs).map(
            lambda t: f"if({t[0]}, {t[1]}, {t[2]})"
        ),
    )
)
boolean_exprs = st.deferred(
    lambda: st.one_of(
        st.sampled_from(BOOLEAN_LEAVES),
        st.tuples(numeric_exprs, st.sampled_from(COMPARE), numeric_exprs).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(
            numeric_exprs,
            st.lists(st.sampled_from(["1", "0", "-0.0", "2.5", "null", "3"]), max_size=3),
        ).map(lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
        st.tuples(
            numeric_exprs, st.sampled_from(["<", "==", "!="]), st.sampled_from(["flag", "true"])
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(boolean_exprs, st.sampled_from(["and", "or"]), boolean_exprs).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        boolean_exprs.map(lambda x: f"(not {x})"),
        st.tuples(boolean_exprs, boolean_exprs, boolean_exprs).map(
            lambda t: f"if({t[0]}, {t[1]}, {t[2]})"
        ),
    )
)
string_exprs = st.one_of(
    st.just("s"),
    st.tuples(
        boolean_exprs, st.sampled_from(["s", "'x'", "null"]), st.sampled_from(["s", "'y'"])
    ).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
    st.just("coalesce(s, 'z')"),
)
expressions = st.one_of(numeric_exprs, boolean_exprs, string_exprs).filter(lambda t: len(t) < 400)


def same(scalar: Any, vector: Any) -> bool:
    if scalar is None or vector is None:
        return scalar is None and vector is None
    if isinstance(scalar, str) or isinstance(vector, str):
        return scalar == vector
    if isinstance(scalar, bool) or isinstance(vector, bool):
        return type(scalar) is type(vector) and scalar == vector
    x, y = float(scalar), float(vector)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, data=frames)
def test_scalar_evaluation_agrees_with_polars(text: str, data: dict[str, list[Any]]) -> None:
    expr = parse_expression(text)
    expr.check_types(KINDS)
    frame = pl.DataFrame(data, schema=SCHEMA)
    vector = frame.select(expr.to_polars(KINDS).alias("out")).to_series().to_list()
    for row, expected in zip(frame.iter_rows(named=True), vector):
        got = expr.evaluate(row)
        assert same(got, expected), f"{text!r} on {row}: scalar {got!r} != polars {expected!r}"


TOKENS = [
    "a",
    "b",
    "1",
    "2.5",
    "'s'",
    "`q r`",
    "(",
    ")",
    "[",
    "]",
    ",",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "<",
    "<=",
    "==",
    "!=",
    "and",
    "or",
    "not",
    "in",
    "true",
    "null",
    "log",
    "clip",
    "if",
    "round",
    "min",
    "x.y",
    "=",
    "&",
    "!",
    "'",
    '"',
    "`",
    ".",
    "1e",
    "\\",
    "\n",
    "é",
]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join), st.text(max_size=30))
)
def test_arbitrary_text_fails_only_with_config_error(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ConfigError:
        return
    expr.check_columns(expr.columns)
    try:
        expr.evaluate({"a": 1.0, "b": "s", "q r": None})
    except DataError:
        pass


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("1 / 0", {}, math.inf),
        ("-1 / 0", {}, -math.inf),
        ("0 / 0", {}, math.nan),
        ("7 % -3", {}, -2.0),
        ("-7 % 3", {}, 2.0),
        ("5 % 0", {}, math.nan),
        ("2 ** 2000", {}, math.inf),
        ("(-8) ** (1 / 3)", {}, math.nan),
        ("log(0)", {}, -math.inf),
        ("sqrt(-1)", {}, math.nan),
        ("exp(1000)", {}, math.inf),
        ("round(2.5)", {}, 2.0),
        ("round(2.675, 2)", {}, 2.68),
        ("x > 1e308", {"x": math.nan}, True),
        ("x == x", {"x": math.nan}, True),
        ("min(x, 1)", {"x": math.nan}, 1.0),
        ("max(x, y)", {"x": None, "y": None}, None),
        ("clip(5, x, 3)", {"x": None}, 3.0),
        ("x and false", {"x": None}, False),
        ("x or true", {"x": None}, True),
        ("not x", {"x": None}, None),
        ("if(x, 1, 2)", {"x": None}, 2),
        ("x in [1, 2]", {"x": None}, None),
        ("x not in [1, 2]", {"x": 3}, True),
        ("x == null", {"x": 1}, None),
        ("coalesce(x, y, 3)", {"x": None, "y": None}, 3),
    ],
)
def test_edge_cases_agree(text: str, record: dict[str, Any], expected: Any) -> None:
    expr = parse_expression(text)
    assert same(expr.evaluate(record), expected)
    schema = {
        k: pl.Null if v is None else pl.Boolean if isinstance(v, bool) else pl.Float64
        for k, v in record.items()
    }
    frame = (
        pl.DataFrame({k: [v] for k, v in record.items()}, schema=schema)
        if record
        else pl.DataFrame({"_": [0]})
    )
    assert same(frame.select(expr.to_polars().alias("o")).item(), expected)
