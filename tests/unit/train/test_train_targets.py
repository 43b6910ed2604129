from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from conveyor.errors import DataError
from conveyor.train import check_target


def test_good_targets_pass() -> None:
    assert check_target(pd.Series(["No", "Yes", "No"]), task="binary", target_name="churn") == []
    assert check_target(pl.Series([1, 2, 3]), task="multiclass", target_name="k") == []
    assert check_target(np.array([1.5, 2.0, 3.25]), task="regression", target_name="price") == []


def test_all_null_target() -> None:
    with pytest.raises(
        DataError,
        match=r"target 'churn' has no values in the training split \(3 rows, all missing\)",
    ):
        check_target(
            pd.Series([None, None, None], dtype=object), task="binary", target_name="churn"
        )


def test_partly_missing_target_names_rows_and_fix() -> None:
    with pytest.raises(DataError) as err:
        check_target(pd.Series(["No", None, "Yes", None]), task="binary", target_name="churn")
    assert (
        err.value.message
        == "target 'churn' is missing in 2 of 4 rows of the training split (rows 1, 3)"
    )
    assert "drop_missing" in (err.value.hint or "")


def test_constant_target() -> None:
    with pytest.raises(DataError) as err:
        check_target(pd.Series(["No"] * 5), task="binary", target_name="churn")
    assert (
        err.value.message
        == "target 'churn' has a single value 'No' in the training split; nothing to learn"
    )
    with pytest.raises(DataError, match=r"has a single value 3\.0"):
        check_target([3.0, 3.0], task="regression", target_name="y")


def test_regression_target_with_text_names_examples() -> None:
    with pytest.raises(DataError) as err:
        check_target(
            pd.Series(["1.5", "n/a", "2", "unknown"]), task="regression", target_name="price"
        )
    assert err.value.message == (
        "target 'price' must be numeric for task 'regression'; got text values such as 'n/a', 'unknown'"
    )
    assert "task: binary or multiclass" in (err.value.hint or "")


def test_regression_target_numbers_as_text_suggests_repair() -> None:
    with pytest.raises(DataError, match="holds numbers stored as"):
        check_target(pd.Series(["1.5", "2"]), task="regression", target_name="price")


def test_regression_target_bool_and_inf() -> None:
    with pytest.raises(DataError, match="must be numeric"):
        check_target(pd.Series([True, False]), task="regression", target_name="y")
    with pytest.raises(DataError, match="1 infinite values"):
        check_target([1.0, np.inf, 2.0], task="regression", target_name="y")


def test_binary_with_three_classes_suggests_multiclass() -> None:
    with pytest.raises(DataError) as err:
        check_target(pd.Series(["a", "b", "c", "a"]), task="binary", target_name="kind")
    assert err.value.message == (
        "target 'kind' has 3 classes ('a', 'b', 'c') in the training split but task is 'binary'"
    )
    assert "task: multiclass" in (err.value.hint or "")


def test_binary_with_many_classes_truncates_the_list() -> None:
    with pytest.raises(DataError, match=r"has 15 classes \(0, 1, .*, 9, … \(15 in all\)\)"):
        check_target(list(range(15)), task="binary", target_name="k")


def test_multiclass_with_two_classes_warns() -> None:
    warnings = check_target(["a", "b", "a"], task="multiclass", target_name="kind")
    assert len(warnings) == 1
    assert "only 2 classes" in warnings[0]


def test_continuous_target_for_classification_suggests_regression() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="distinct non-integer values") as err:
        check_target(rng.normal(size=100), task="multiclass", target_name="y")
    assert "task: regression" in (err.value.hint or "")
