"""Datetime columns as numbers: calendar parts, cyclical encodings and age in days."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from conveyor.errors import DataError

__all__ = ["DATETIME_PARTS", "DatetimeParts", "parse_datetimes"]

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "dayofyear", "age_days")
# Parts that wrap around, with their period: December is next to January.
_CYCLES = {"month": 12, "dayofweek": 7, "hour": 24}
_US_PER_DAY = 86_400 * 10**6


def parse_datetimes(values: pd.Series, *, fmt: str = "ISO8601") -> pd.Series:
    """Naive UTC ``datetime64[us]`` values from datetimes or strings; unparseable -> NaT.

    Microseconds rather than nanoseconds, so sentinel dates like 9999-12-31 fit.

    Time-zone-aware values are converted to UTC; naive values and strings
    without an offset are taken as UTC already.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series.astype(object), errors="coerce", utc=True, format=fmt)
        series = series.dt.tz_localize(None)
    return series.astype("datetime64[us]")


def _string_format(series: pd.Series) -> str:
    """``ISO8601`` when that parses (almost) every value, else ``mixed`` (slower, per value)."""
    present = series.dropna()
    if present.empty or pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "ISO8601"
    parsed = parse_datetimes(present, fmt="ISO8601")
    if parsed.notna().mean() >= 0.95:
        return "ISO8601"
    return "mixed"


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Calendar parts of datetime columns (datetime64 or parseable strings).

    Output per column: the requested ``parts``; with ``cyclical`` the month,
    day of week and hour become a sine/cosine pair instead of a number; and
    ``age_days`` measures days from the value to ``reference_column`` (or, if
    unset, to the latest date seen in training). Values that are missing or
    unparseable are filled with the training median of that output.

    Args:
        parts: any of year, month, day, dayofweek, hour, dayofyear, age_days.
        cyclical: encode month / dayofweek / hour as sin and cos.
        reference_column: a column of the input to measure ``age_days``
            against; it is read, not encoded.
    """

    def __init__(
        self,
        parts: Sequence[str] = ("year", "month", "dayofweek"),
        cyclical: bool = True,
        reference_column: str | None = None,
    ) -> None:
        self.parts = parts
        self.cyclical = cyclical
        self.reference_column = reference_column

    def fit(self, X: pd.DataFrame, y: Any = None) -> DatetimeParts:
        frame = _frame(X)
        unknown = [p for p in self.parts if p not in DATETIME_PARTS]
        if unknown or not self.parts:
            raise ValueError(
                f"The 'parts' parameter of DatetimeParts must be a non-empty list of {list(DATETIME_PARTS)}. "
                f"Got {list(self.parts)!r} instead."
            )
        reference = self.reference_column
        if reference is not None and reference not in frame.columns:
            raise DataError(f"age reference column '{reference}' is not in the input")
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.columns_ = [str(c) for c in frame.columns if c != reference]
        self.formats_ = {str(c): _string_format(frame[c]) for c in frame.columns}
        self.reference_us_: dict[str, float] = {}
        if reference is None:
            for column in self.columns_:
                micros = _micros(parse_datetimes(frame[column], fmt=self.formats_[column]))
                self.reference_us_[column] = (
                    float(np.nanmax(micros)) if np.isfinite(micros).any() else 0.0
                )
        raw = self._raw(frame)
        with np.errstate(all="ignore"):
            medians = [np.nanmedian(col) if np.isfinite(col).any() else 0.0 for col in raw.T]
        self.fill_values_ = np.asarray(medians, dtype=np.float64)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "fill_values_")
        frame = _frame(X)
        missing = [
            c for c in [*self.columns_, self.reference_column] if c and c not in frame.columns
        ]
        if missing:
            raise DataError(f"datetime features need column(s) {', '.join(map(repr, missing))}")
        raw = self._raw(frame)
        holes = ~np.isfinite(raw)
        if holes.any():
            raw[holes] = np.take(self.fill_values_, np.nonzero(holes)[1])
        return raw

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "fill_values_")
        return np.asarray(
            [f"{column}_{name}" for column in self.columns_ for name in self._output_parts()],
            dtype=object,
        )

    def _output_parts(self) -> list[str]:
        names: list[str] = []
        for part in self.parts:
            if self.cyclical and part in _CYCLES:
                names += [f"{part}_sin", f"{part}_cos"]
            else:
                names.append(part)
        return names

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        reference = None
        if self.reference_column is not None:
            ref = parse_datetimes(
                frame[self.reference_column],
                fmt=self.formats_.get(self.reference_column, "ISO8601"),
            )
            reference = _micros(ref)
        blocks = []
        for column in self.columns_:
            values = parse_datetimes(frame[column], fmt=self.formats_.get(column, "ISO8601"))
            blocks.append(self._parts_of(column, values, reference))
        return np.hstack(blocks) if blocks else np.empty((len(frame), 0))

    def _parts_of(self, column: str, values: pd.Series, reference: np.ndarray | None) -> np.ndarray:
        accessor = values.dt
        outputs: list[np.ndarray] = []
        for part in self.parts:
            if part == "age_days":
                base = reference if reference is not None else self.reference_us_[column]
                outputs.append((base - _micros(values)) / _US_PER_DAY)
                continue
            number = getattr(accessor, part).to_numpy(dtype=np.float64, na_value=np.nan)
            if self.cyclical and part in _CYCLES:
                offset = 1.0 if part == "month" else 0.0
                angle = 2.0 * np.pi * (number - offset) / _CYCLES[part]
                outputs += [np.sin(angle), np.cos(angle)]
            else:
                outputs.append(number)
        return np.column_stack(outputs).astype(np.float64)


def _micros(values: pd.Series) -> np.ndarray:
    """Microseconds since the epoch as floats, NaN where the date is missing."""
    micros = values.to_numpy(dtype="datetime64[us]").astype(np.int64).astype(np.float64)
    micros[values.isna().to_numpy()] = np.nan
    return micros


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    raise DataError(
        f"datetime features need a pandas DataFrame with named columns, got {type(X).__name__}"
    )
