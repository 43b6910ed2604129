"""Save the bundle's fitted pipeline as an MLflow model (run with bench/.venvs/mlflow's python).

    bench/.venvs/mlflow/bin/python bench/http/mlflow_export.py bench/out/http/model.json OUT_DIR [--plain]

Reads the skops file of the verified bundle (path, trusted types and the
directory holding a copy of the ``conveyor`` package from the JSON file
``bench/http_serve.py`` writes) and calls ``mlflow.sklearn.save_model`` with
the skops format, ``pyfunc_predict_fn="predict_proba"`` (so the server
returns probabilities) and a signature inferred from one example record. The
``conveyor`` package goes along as ``code_paths``: the pipeline's first steps
are Conveyor transformers, and MLflow puts that code on ``sys.path`` when it
loads the model.

With ``--plain`` the pipeline is the copy without Conveyor classes
(``config["plain"]``, see ``peers.write_plain_pipeline``); its code path is
``churn_derived.py`` instead of the ``conveyor`` package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    config_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    plain = "--plain" in sys.argv[3:]
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if plain:
        source, code = config["plain"], Path(config["plain"]["code"])
        sys.path.insert(0, str(code.parent))
    else:
        source, code = config, Path(config["code_dir"]) / "conveyor"
        sys.path.insert(0, config["code_dir"])

    import mlflow.sklearn
    import pandas as pd
    import skops.io as sio

    pipeline = sio.load(source["skops"], trusted=source["trusted_types"])
    example = pd.DataFrame([config["record"]])
    mlflow.sklearn.save_model(
        pipeline,
        str(out),
        serialization_format="skops",
        skops_trusted_types=source["trusted_types"],
        code_paths=[str(code)],
        input_example=example,
        pyfunc_predict_fn="predict_proba",
    )
    loaded = mlflow.pyfunc.load_model(str(out))
    print(json.dumps({"saved": str(out), "check": loaded.predict(example).tolist()}))


if __name__ == "__main__":
    main()
