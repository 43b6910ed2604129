"""In-process scoring of a file with a registered model version (``conveyor predict``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    from conveyor.registry import ModelVersion
    from conveyor.stores.artifacts import ArtifactStore

__all__ = ["predict_file"]


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
    import polars as pl

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
        predictions = loaded.predict(X)
        out = frame.with_columns(pl.Series("prediction", list(predictions)))
        classes = loaded.signature.classes
        if classes:
            proba = loaded.predict_proba(X)
            out = out.with_columns(
                [pl.Series(f"proba_{c}", proba[:, i].astype(float)) for i, c in enumerate(classes)]
            )
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
