"""The servers bench/http_serve.py runs: how to start each, its request body and its answer.

``conveyor serve`` and the two hand-written FastAPI peers run from the project
venv; MLflow and BentoML from their own venvs under bench/.venvs, filled here
from ``requirements-<name>.txt`` plus the project venv's versions of the
libraries the pipeline needs (:func:`pins`), so every server loads the same model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import harness
from harness import Server, log

REPO = harness.HERE.parents[1]
HERE = harness.HERE
OUT = REPO / "bench" / "out" / "http"
VENVS = REPO / "bench" / ".venvs"
PROJECT_BIN = REPO / ".venv" / "bin"
PINNED = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "polars")
UVICORN_PEER = ["--workers", "1", "--loop", "uvloop", "--http", "httptools"]
UVICORN_PEER += ["--log-level", "warning", "--no-access-log", "--timeout-graceful-shutdown", "10"]


def pins(config: dict[str, Any]) -> list[str]:
    """The project venv's versions of what the pipeline needs, so peers load the same model."""
    names = list(PINNED)
    if any(t.startswith("lightgbm.") for t in config["trusted_types"]):
        names.append("lightgbm")
    return [f"{name}=={metadata.version(name)}" for name in names]


# ---------------------------------------------------------------- the servers


def servers(
    config: dict[str, Any], only: list[str], skip_install: bool
) -> tuple[list[Server], dict[str, str]]:
    """The servers to run, and the reason for each one that cannot."""
    record, model_env = config["record"], {"BENCH_HTTP_MODEL": str(OUT / "model.json")}
    found: list[Server] = []
    skipped: dict[str, str] = {}
    positive = config["positive"]
    by_class = lambda a: a["probabilities"][positive]  # noqa: E731
    body = json.dumps(record).encode()
    for name in only:
        port = harness.free_port()
        root = f"http://127.0.0.1:{port}"
        try:
            if name in ("conveyor", "conveyor-nolog", "conveyor-si"):
                cmd = [str(PROJECT_BIN / "conveyor"), "serve", "--port", str(port)]
                note = "uvloop+httptools, access log off (conveyor serve's own choice)"
                if name == "conveyor-nolog":
                    cmd += ["--project", str(_nolog_config(OUT / "churn"))]
                    note = "ablation: serve.log_predictions false, else as conveyor serve"
                if name == "conveyor-si":
                    cmd = [str(PROJECT_BIN / "python"), "-c", _SWITCH_INTERVAL, *cmd[1:]]
                    note = "ablation: sys.setswitchinterval(0.0005) (default 0.005), else as conveyor serve"
                found.append(
                    Server(
                        name,
                        cmd,
                        OUT / "churn",
                        f"{root}/v1/predict",
                        f"{root}/ready",
                        body,
                        by_class,
                        note=note,
                    )
                )
            elif name in ("sklearn", "bare"):
                module = {"sklearn": "peer_sklearn", "bare": "peer_onnx"}[name]
                cmd = [
                    str(PROJECT_BIN / "python"),
                    "-m",
                    "uvicorn",
                    f"{module}:app",
                    "--app-dir",
                    str(HERE),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    *UVICORN_PEER,
                ]
                found.append(
                    Server(
                        name,
                        cmd,
                        OUT,
                        f"{root}/predict",
                        f"{root}/health",
                        body,
                        by_class,
                        env=model_env,
                        note="uvicorn: uvloop+httptools, access log off",
                    )
                )
            elif name in ("mlflow", "mlflow-plain"):
                found.append(_mlflow(config, port, skip_install, plain=name == "mlflow-plain"))
            elif name == "bentoml":
                found.append(_bentoml(config, port, skip_install))
        except (
            Exception
        ) as exc:  # a peer that cannot be installed or exported gets a row saying why
            log(f"{name}: {exc}")
            skipped[name] = f"not run: {str(exc).splitlines()[0][:160]}"
    return found, skipped


# `conveyor serve` with a 0.5 ms GIL switch interval: how much of the tail latency is threads
# (the prediction-log writer) holding the GIL for the default 5 ms while a request waits.
_SWITCH_INTERVAL = (
    "import sys; sys.setswitchinterval(0.0005); sys.argv = ['conveyor', *sys.argv[1:]]; "
    "from conveyor.cli.main import entrypoint; entrypoint()"
)


def _nolog_config(project: Path) -> Path:
    """A second config file for the trained project: the same, plus ``serve.log_predictions: false``."""
    text = (project / "conveyor.yaml").read_text(encoding="utf-8")
    if "\nserve:" in text:
        raise RuntimeError("conveyor.yaml already has a serve: section; edit _nolog_config")
    path = project / "conveyor-nolog.yaml"
    path.write_text(text.rstrip() + "\n\nserve:\n  log_predictions: false\n", encoding="utf-8")
    return path


def _mlflow(config: dict[str, Any], port: int, skip_install: bool, *, plain: bool) -> Server:
    name = "mlflow-plain" if plain else "mlflow"
    if plain and "error" in config["plain"]:
        raise RuntimeError(f"no plain pipeline: {config['plain']['error']}")
    venv = VENVS / "mlflow"
    python = harness.ensure_venv(
        venv,
        HERE / "requirements-mlflow.txt",
        pins(config),
        base_python=base_python(),
        skip=skip_install,
    )
    model = OUT / f"{name.replace('-', '_')}_model"
    shutil.rmtree(model, ignore_errors=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": (OUT / "mlruns").as_uri()}
    cmd = [str(python), str(HERE / "mlflow_export.py"), str(OUT / "model.json"), str(model)]
    done = subprocess.run(
        [*cmd, *(["--plain"] if plain else [])], env=env, cwd=OUT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlflow_export.py failed: {done.stderr.strip().splitlines()[-1:]}")
    index = config["classes"].index(config["positive"])
    body = json.dumps({"dataframe_records": [config["record"]]}).encode()
    cmd = [
        str(venv / "bin" / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    # mlflow starts `uvicorn` from PATH; UVICORN_* env vars give it the settings of the others.
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": (OUT / "mlruns").as_uri(),
        "UVICORN_LOOP": "uvloop",
        "UVICORN_HTTP": "httptools",
        "UVICORN_ACCESS_LOG": "false",
        "UVICORN_LOG_LEVEL": "warning",
    }
    root = f"http://127.0.0.1:{port}"
    note = "skops model, pyfunc_predict_fn=predict_proba, inferred signature; "
    if plain:
        note = "ablation: the same fitted steps without Conveyor classes (churn_derived.py); "
    return Server(
        name,
        cmd,
        OUT,
        f"{root}/invocations",
        f"{root}/ping",
        body,
        lambda a: a["predictions"][0][index],
        env=env,
        note=note + "uvicorn via UVICORN_* env: uvloop+httptools, access log off",
    )


def _bentoml(config: dict[str, Any], port: int, skip_install: bool) -> Server:
    venv = VENVS / "bentoml"
    harness.ensure_venv(
        venv,
        HERE / "requirements-bentoml.txt",
        pins(config),
        base_python=base_python(),
        skip=skip_install,
    )
    positive = config["positive"]
    body = json.dumps({"record": config["record"]}).encode()
    cmd = [
        str(venv / "bin" / "bentoml"),
        "serve",
        "peer_bentoml:Churn",
        "--working-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {
        "BENCH_HTTP_MODEL": str(OUT / "model.json"),
        "BENTOML_HOME": str(OUT / "bentoml_home"),
        "BENTOML_DO_NOT_TRACK": "True",
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    root = f"http://127.0.0.1:{port}"
    return Server(
        "bentoml",
        cmd,
        OUT,
        f"{root}/predict",
        f"{root}/readyz",
        body,
        lambda a: a["probabilities"][positive],
        env=env,
        note="sync @bentoml.api, 1 worker, access log off, its metrics on",
    )


def write_plain_pipeline(pipeline: Any, config: dict[str, Any]) -> dict[str, Any]:
    """A copy of the fitted pipeline without Conveyor classes, as skops (for ``mlflow-plain``).

    Conveyor's transformers become ``FunctionTransformer`` s of the functions in
    ``churn_derived.py``; every fitted sklearn step is the bundle's own.
    Checked against the bundle's probability (within 1e-4) here, before any
    server gets it.
    """
    import copy

    import churn_derived
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from conveyor.bundle._onnx_io import split_record_step

    if config["derived"] != churn_derived.EXPRESSIONS:
        raise RuntimeError(
            f"churn_derived knows {churn_derived.EXPRESSIONS}, not {config['derived']}"
        )
    stand_ins = {"ToFloat": churn_derived.to_float, "CategoryStrings": churn_derived.to_text}
    _, rest = split_record_step(copy.deepcopy(pipeline))
    columns = rest.steps[0][1]
    if not isinstance(columns, ColumnTransformer):
        raise RuntimeError(f"expected a ColumnTransformer after the derived step, got {columns!r}")
    entries = []
    for name, part, cols in columns.transformers_:
        if isinstance(part, Pipeline):
            part.steps = [
                (n, FunctionTransformer(stand_ins[type(s).__name__]))
                if type(s).__name__ in stand_ins
                else (n, s)
                for n, s in part.steps
            ]
        entries.append((name, part, cols))
    columns.transformers_ = entries
    columns.transformers = [e for e in entries if e[0] != "remainder"]
    frame = pd.DataFrame([config["record"]])
    derive = FunctionTransformer(churn_derived.add_derived)
    plain = Pipeline([("derived", derive), *rest.steps])
    index = config["classes"].index(config["positive"])
    got = float(plain.predict_proba(frame)[0][index])
    if abs(got - config["expected"]) > 1e-4:
        raise RuntimeError(f"the plain pipeline gives {got}, the bundle {config['expected']}")
    path = OUT / "plain_model.skops"
    sio.dump(plain, path)
    trusted = sio.get_untrusted_types(file=path)
    if any(t.startswith("conveyor.") for t in trusted):
        raise RuntimeError(f"the plain pipeline still holds Conveyor types: {trusted}")
    code = OUT / "plain_code"
    code.mkdir(exist_ok=True)
    shutil.copy(HERE / "churn_derived.py", code / "churn_derived.py")
    return {"skops": str(path), "trusted_types": trusted, "code": str(code / "churn_derived.py")}


def base_python() -> str:
    """The interpreter the project venv was made from (peers get the same Python)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")
