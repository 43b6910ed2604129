"""Peer: a minimal hand-written FastAPI endpoint around the fitted scikit-learn pipeline.

One JSON record in, ``predict_proba`` on a one-row pandas frame, the class
probabilities out. No validation, logging or metrics. Run with the project
venv (it has fastapi, uvicorn, scikit-learn, pandas, skops)::

    BENCH_HTTP_MODEL=bench/out/http/model.json \
        .venv/bin/python -m uvicorn peer_sklearn:app --app-dir bench/http --port 8001

``BENCH_HTTP_MODEL`` names the JSON file ``bench/http_serve.py`` writes: the
skops file of the verified bundle, its trusted types and the class names.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import skops.io as sio
from fastapi import FastAPI, Request, Response

_CONFIG = json.loads(Path(os.environ["BENCH_HTTP_MODEL"]).read_text(encoding="utf-8"))
sys.path.insert(0, _CONFIG["code_dir"])  # the pipeline's custom transformer classes
_MODEL: Any = sio.load(_CONFIG["skops"], trusted=_CONFIG["trusted_types"])
_CLASSES = [str(c) for c in _MODEL.classes_]

app = FastAPI()


@app.get("/health")
async def health() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.post("/predict")
async def predict(request: Request) -> Response:
    record = orjson.loads(await request.body())
    proba = _MODEL.predict_proba(pd.DataFrame([record]))[0]
    body = {"probabilities": dict(zip(_CLASSES, proba.tolist()))}
    return Response(orjson.dumps(body), media_type="application/json")
