"""Plain functions standing in for Conveyor's transformers, for the plain-sklearn MLflow variant.

``bench/http_serve.py`` builds a copy of the fitted pipeline with no Conveyor
classes in it, each of these in a ``FunctionTransformer``: :func:`add_derived`
for ``DerivedFeatures`` (the churn example's two derived features, in pandas),
:func:`to_float` for ``ToFloat``, :func:`to_text` for ``CategoryStrings``. The
fitted imputers, scaler, encoder and logistic regression are the bundle's own;
the script checks that the copy gives the bundle's probability within 1e-4
before serving it.

Example:
    >>> import pandas as pd
    >>> add_derived(pd.DataFrame([{"tenure": 3, "total_charges": 80.0, "contract": "One year"}]))[
    ...     ["charge_per_month", "long_contract"]
    ... ].to_dict("records")
    [{'charge_per_month': 20.0, 'long_contract': 1.0}]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EXPRESSIONS = {
    "charge_per_month": "total_charges / (tenure + 1)",
    "long_contract": "if(contract != 'Month-to-month', 1, 0)",
}


def add_derived(frame: Any) -> Any:
    """``frame`` (pandas) plus ``charge_per_month`` and ``long_contract``."""
    out = frame.copy()
    out["charge_per_month"] = out["total_charges"].astype(float) / (out["tenure"].astype(float) + 1)
    out["long_contract"] = (out["contract"] != "Month-to-month").astype(float)
    out.loc[out["contract"].isna(), "long_contract"] = float("nan")
    return out


def to_float(X: Any) -> Any:
    """Columns as a float64 array (``None`` becomes NaN), like ``ToFloat``."""
    return np.asarray(X, dtype=np.float64)


def _text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.nan
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def to_text(X: Any) -> Any:
    """Columns as an object array of text (missing as NaN, 1.0 as "1"), like ``CategoryStrings``."""
    values = np.asarray(X, dtype=object)
    out = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        out[index] = _text(value)
    return out
