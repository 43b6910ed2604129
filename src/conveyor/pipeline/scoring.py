"""In-process scoring of a file with a registered model version (``conveyor predict``).

:func:`prediction_columns` is the one place a frame of model inputs becomes
the ``prediction`` / ``proba_<class>`` output columns; ``conveyor predict``
and the batch scorer (``conveyor score``) both use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from conveyor.bundle import LoadedBundle
    from conveyor.registry import ModelVersion
    from conveyor.stores.artifacts import ArtifactStore

__all__ = ["predict_file", "prediction_columns"]


def predict_file(
    version: ModelVersion,
    artifacts: ArtifactStore,
    input_path: Path,
    output_path: Path,
    *,
    id_column: str | None = None,
) -> dict[str, Any]:
    """Score every row of ``input_path`` and write it with its predictions to ``output_path``.

    The output keeps the input columns and adds ``prediction`` and, for
    classifiers, ``proba_<class>`` per class. Returns a small summary.
    """
    from conveyor.data.sources import read_table_file
    from conveyor.registry import fetch_bundle

    suffix = output_path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(
            f"--output {output_path}: write .csv or .parquet, got '{suffix or 'no extension'}'"
        )
    frame = read_table_file(input_path)
    with tempfile.TemporaryDirectory(prefix="conveyor-predict-") as tmp:
        loaded = fetch_bundle(artifacts, version, Path(tmp) / "bundle", onnx=False)
        names = [f.name for f in loaded.signature.inputs]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise SchemaError(
                f"{input_path}: missing column(s) {', '.join(missing)} that {version.ref} needs; "
                f"the file has: {', '.join(frame.columns)}"
            )
        X = frame.select(names).to_pandas()
        out = frame.with_columns(prediction_columns(loaded, X))
        engine = "python"
    tmp_out = output_path.with_name(f".{output_path.name}.tmp-{os.getpid()}")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        out.write_csv(tmp_out)
    else:
        out.write_parquet(tmp_out)
    os.replace(tmp_out, output_path)
    del id_column  # kept as a column of the input; named for a future keyed output
    return {"rows": out.height, "model": version.ref, "engine": engine, "output": str(output_path)}


def prediction_columns(bundle: LoadedBundle, X: pd.DataFrame) -> list[pl.Series]:
    """``prediction`` and, for classifiers, ``proba_<class>`` per class, for the rows of ``X``.

    The pipeline runs once: a binary label is the bundle's decision rule (the
    threshold on P(positive), as in :meth:`LoadedBundle.predict`) applied to
    the probabilities just computed. Multiclass labels come from the
    pipeline's ``predict``, regression values are in ``prediction`` alone.

    Example:
        >>> [s.name for s in prediction_columns(bundle, X)]  # doctest: +SKIP
        ['prediction', 'proba_No', 'proba_Yes']
    """
    import polars as pl

    sig = bundle.signature
    classes = sig.classes or []
    if not classes:
        return [pl.Series("prediction", np.asarray(bundle.predict(X)))]
    proba = np.asarray(bundle.predict_proba(X), dtype=np.float64)
    if sig.task == "binary" and len(classes) == 2:
        label = sig.decide_many(proba)
    else:
        label = np.asarray(bundle.predict(X))
    return [
        pl.Series("prediction", label),
        *(pl.Series(f"proba_{c}", proba[:, i], pl.Float64) for i, c in enumerate(classes)),
    ]
