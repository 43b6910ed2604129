"""Peer: a bare FastAPI endpoint on the bundle's ONNX graph (the ceiling of one Python worker).

No validation, no prediction log, no metrics: parse the JSON record, build the
feed (one ``[1, 1]`` tensor per graph input: float32 numbers, NaN for missing;
strings, ``""`` for missing; integral numbers sent to a string input as ``"1"``),
add the churn example's two derived features by hand, run onnxruntime (one
intra-op thread, as ``conveyor serve`` does), return the probabilities::

    BENCH_HTTP_MODEL=bench/out/http/model.json \
        .venv/bin/python -m uvicorn peer_onnx:app --app-dir bench/http --port 8002

Input names and types come from the graph itself; the two derived features
are written out below, and the app refuses to start if the graph asks for
other extra inputs or the bundle recorded other expressions for them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Request, Response

_CONFIG = json.loads(Path(os.environ["BENCH_HTTP_MODEL"]).read_text(encoding="utf-8"))
_DERIVED = {
    "charge_per_month": "total_charges / (tenure + 1)",
    "long_contract": "if(contract != 'Month-to-month', 1, 0)",
}
if _CONFIG["derived"] != _DERIVED:
    raise SystemExit(
        f"peer_onnx knows the derived features {_DERIVED}, the bundle has {_CONFIG['derived']}"
    )

_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
_options.inter_op_num_threads = 1
_SESSION = ort.InferenceSession(_CONFIG["onnx"], _options, providers=["CPUExecutionProvider"])
_INPUTS = [(i.name, i.type == "tensor(string)") for i in _SESSION.get_inputs()]
_OUTPUT = [_CONFIG["onnx_output"]]
_CLASSES = list(_CONFIG["classes"])


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _derive(record: dict[str, Any]) -> dict[str, Any]:
    tenure, total = record.get("tenure"), record.get("total_charges")
    contract = record.get("contract")
    return {
        **record,
        "charge_per_month": None if tenure is None or total is None else total / (tenure + 1),
        "long_contract": None if contract is None else float(contract != "Month-to-month"),
    }


app = FastAPI()


@app.get("/health")
async def health() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.post("/predict")
async def predict(request: Request) -> Response:
    record = _derive(orjson.loads(await request.body()))
    feed = {
        name: np.array([[_text(record.get(name))]], dtype=object)
        if is_text
        else np.array([[_number(record.get(name))]], dtype=np.float32)
        for name, is_text in _INPUTS
    }
    proba = _SESSION.run(_OUTPUT, feed)[0][0]
    body = {"probabilities": dict(zip(_CLASSES, proba.tolist()))}
    return Response(orjson.dumps(body), media_type="application/json")
