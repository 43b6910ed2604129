"""The safe expression grammar: parsing, errors that point at a column, checks, evaluation."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import polars as pl
import pytest

from conveyor.errors import ConfigError, DataError
from conveyor.features.expressions import FUNCTIONS, parse_expression


def _error(text: str, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_expression(text, **kwargs)  # type: ignore[arg-type]
    return info.value


# ---------------------------------------------------------------- good input


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("1 + 2 * 3", {}, 7.0),
        ("(1 + 2) * 3", {}, 9.0),
        ("2 ** 3 ** 2", {}, 512.0),
        ("-2 ** 2", {}, -4.0),
        ("2 ** -1", {}, 0.5),
        ("10 % 4", {}, 2.0),
        ("1e-3 * 1000", {}, 1.0),
        (".5 + 1.", {}, 1.5),
        ("'it\\'s'", {}, "it's"),
        ('"double"', {}, "double"),
        ("x", {"x": 3}, 3),
        ("`monthly charges` * 12", {"monthly charges": 2.0}, 24.0),
        ("performance.accuracy < 0.92", {"performance.accuracy": 0.9}, True),
        ("performance.accuracy < 0.92", {"performance": {"accuracy": 0.95}}, False),
        ("data.new_rows >= 10000", {"data": {"new_rows": 20000}}, True),
        ("TRUE and not False", {}, True),
        ("x in [1, 2, 3]", {"x": 2}, True),
        ("x not in ['a', 'b']", {"x": "c"}, True),
        ("x in []", {"x": 1}, False),
        ("log(exp(2))", {}, 2.0),
        ("log1p(0)", {}, 0.0),
        ("sqrt(16) + abs(-2)", {}, 6.0),
        ("clip(x, 0, 10)", {"x": 42}, 10.0),
        ("min(3, x, 1)", {"x": 2}, 1.0),
        ("max(3, x, 1)", {"x": 7}, 7.0),
        ("round(3.14159, 2)", {}, 3.14),
        ("if(x > 0, 'pos', 'neg')", {"x": -1}, "neg"),
        ("coalesce(x, 0)", {"x": None}, 0),
        ("is_null(x)", {}, True),
        ("total / (tenure + 1)", {"total": 100, "tenure": 3}, 25.0),
        ("a > 1 or b", {"a": 2, "b": None}, True),
        ("not (a == 'x')", {"a": "y"}, True),
    ],
)
def test_evaluates(text: str, record: dict[str, object], expected: object) -> None:
    got = parse_expression(text).evaluate(record)
    assert got == expected or (isinstance(expected, float) and math.isclose(got, expected))


def test_columns_lists_every_name_once() -> None:
    expr = parse_expression("a + b * a + `c d` + if(e.f > 1, g, coalesce(h, 1))")
    assert expr.columns == {"a", "b", "c d", "e.f", "g", "h"}
    assert parse_expression("1 + 2").columns == set()


def test_missing_keys_are_null() -> None:
    assert parse_expression("x + 1").evaluate({}) is None
    assert parse_expression("x > 1").evaluate({}) is None


def test_numpy_and_pandas_scalars_are_plain_values() -> None:
    import numpy as np
    import pandas as pd

    expr = parse_expression("x * 2 + if(flag, 1, 0)")
    assert expr.evaluate({"x": np.int64(3), "flag": np.bool_(True)}) == 7.0
    assert expr.evaluate({"x": pd.NA, "flag": True}) is None


def test_to_polars_matches_on_a_frame() -> None:
    expr = parse_expression("if(contract == 'Two year', total / (tenure + 1), null)")
    frame = pl.DataFrame(
        {"contract": ["Two year", "Month", None], "total": [10.0, 5.0, 1.0], "tenure": [4, 0, 1]}
    )
    vector = frame.select(expr.to_polars().alias("out")).to_series().to_list()
    assert vector == [2.0, None, None]
    assert [expr.evaluate(r) for r in frame.iter_rows(named=True)] == vector


def test_scalar_evaluation_takes_microseconds() -> None:
    expr = parse_expression("if(a > 3 and b in ['x', 'y'], log1p(c) * 2, clip(d, 0, 10))")
    record = {"a": 5, "b": "x", "c": 3.0, "d": 20}
    expr.evaluate(record)
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        expr.evaluate(record)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 30e-6, f"{per_call * 1e6:.1f} µs per evaluate"


def test_grammar_does_not_load_sklearn() -> None:
    code = (
        "import sys; from conveyor.features.expressions import parse_expression; "
        "parse_expression('a + 1').evaluate({'a': 1}); "
        "print('sklearn' in sys.modules, 'polars' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- errors with positions


def test_unexpected_end_points_after_the_last_token() -> None:
    err = _error("total / (tenure + ")
    assert err.headline == "expression 'total / (tenure + ': unexpected end at column 18"
    lines = str(err).splitlines()
    assert lines[1].strip() == "total / (tenure +"
    assert lines[2].index("^") - 4 == 17


def test_source_prefixes_the_message() -> None:
    err = _error("a +* b", source="conveyor.yaml: features.derived.rate")
    assert err.headline.startswith("conveyor.yaml: features.derived.rate: expression 'a +* b'")
    assert "at column 4" in err.headline


@pytest.mark.parametrize(
    ("text", "problem", "column"),
    [
        ("a b", "unexpected 'b'", 3),
        ("(a + 1", "unexpected end", 7),
        ("a + 1)", "unexpected ')'", 6),
        ("'open", "unterminated string", 1),
        ("`open", "unterminated `quoted name`", 1),
        ("1.2.3", "malformed number", 1),
        ("3x", "malformed number", 1),
        ("a = 1", "unknown operator '='", 3),
        ("a && b", "unknown operator '&&'", 3),
        ("a # b", "unexpected character '#'", 3),
        ("a < b < c", "comparisons cannot be chained", 7),
        ("x in [1, 'a']", "list mixes number and string values", 10),
        ("x in [y]", "list items must be literals", 7),
        ("[1, 2]", "a list is only allowed after 'in'", 1),
        ("clip(x, 0)", "clip() takes 3 arguments, got 2", 1),
        ("round(x, y)", "round()'s digits must be a whole number", 10),
        ("log()", "log() takes 1 argument, got 0", 1),
        ("", "is empty", 1),
        ("a.", "expected a name after '.'", 3),
        ("'bad \\q'", "unknown escape", 6),
    ],
)
def test_syntax_errors_point_at_the_problem(text: str, problem: str, column: int) -> None:
    err = _error(text)
    assert problem in err.headline
    assert f"at column {column}" in err.headline


def test_unknown_function_suggests_and_lists_known_ones() -> None:
    err = _error("lg(x) + 1")
    assert "unknown function 'lg' at column 1" in err.headline
    assert err.hint is not None and "did you mean 'log'?" in err.hint
    for name in FUNCTIONS:
        assert name in err.hint


def test_deep_nesting_is_refused_not_a_crash() -> None:
    assert "levels deep" in _error("(" * 500 + "1" + ")" * 500).headline
    assert "operations deep" in _error(" + ".join(["x"] * 1000)).headline
    assert "levels deep" in _error("-" * 500 + "1").headline


def test_overlong_text_is_refused() -> None:
    assert "limit is" in _error("x" * 20_000).headline


def test_non_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be text"):
        parse_expression(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- checks


def test_check_columns_points_at_the_unknown_column_and_suggests() -> None:
    expr = parse_expression("x / y", source="features.derived.ratio")
    with pytest.raises(ConfigError) as info:
        expr.check_columns(["x", "yy"])
    assert info.value.headline == (
        "features.derived.ratio: expression 'x / y': refers to unknown column 'y' at column 5 "
        "(did you mean 'yy'?)"
    )
    expr.check_columns(["x", "y", "z"])


def test_check_columns_without_a_close_match_lists_the_columns() -> None:
    with pytest.raises(ConfigError) as info:
        parse_expression("qqq + 1").check_columns(["alpha", "beta"])
    assert info.value.hint == "available columns: alpha, beta"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("contract + 1", "'+' needs numbers, but column 'contract' is a string"),
        ("-contract", "unary '-' needs a number"),
        ("log(contract)", "log() needs numbers"),
        ("tenure and true", "'and' needs true/false values, but column 'tenure' is a number"),
        ("not tenure", "'not' needs a true/false value"),
        ("contract < 3", "'<' compares a string with a number"),
        ("tenure in ['a']", "'in' looks for a number in a list of string values"),
        ("if(tenure, 1, 2)", "if() needs a true/false condition"),
        ("if(flag, 1, 'a')", "if() mixes a number with a string"),
        ("coalesce(contract, 0)", "coalesce() mixes a string with a number"),
    ],
)
def test_check_types_rejects_known_mismatches(text: str, problem: str) -> None:
    kinds = {"contract": "string", "tenure": "number", "flag": "bool"}
    with pytest.raises(ConfigError) as info:
        parse_expression(text).check_types(kinds)
    assert problem in info.value.headline


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("tenure + 1", "number"),
        ("flag + 1", "number"),
        ("tenure > 1 and flag", "bool"),
        ("if(flag, contract, 'none')", "string"),
        ("coalesce(null, tenure)", "number"),
        ("unknown_column * 2", "number"),
        ("is_null(contract)", "bool"),
        ("flag == 1", "bool"),
    ],
)
def test_check_types_returns_the_result_kind(text: str, kind: str) -> None:
    kinds = {"contract": "string", "tenure": "number", "flag": "bool"}
    assert parse_expression(text).check_types(kinds) == kind


def test_scalar_type_errors_are_data_errors_naming_the_column() -> None:
    with pytest.raises(DataError, match="'\\+' needs numbers, but got str 'abc' \\(column 'x'\\)"):
        parse_expression("x + 1").evaluate({"x": "abc"})
    with pytest.raises(DataError, match="compares a string"):
        parse_expression("x < 1").evaluate({"x": "abc"})
    with pytest.raises(DataError, match="true/false"):
        parse_expression("x and true").evaluate({"x": 1})


def test_expressions_compare_by_structure() -> None:
    assert parse_expression("a+1") == parse_expression("a+1")
    assert parse_expression("a+1") != parse_expression("a+2")
    assert repr(parse_expression("a+1")) == "Expr('a+1')"
