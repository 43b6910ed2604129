"""Peer: a BentoML service around the fitted scikit-learn pipeline (runs in bench/.venvs/bentoml).

The usual BentoML shape: a ``@bentoml.service`` class that loads the model
once and a sync ``@bentoml.api`` method taking the record as a keyword
(request body ``{"record": {...}}``) that calls ``predict_proba`` on a one-row
pandas frame. One worker; BentoML's access log off (as ``conveyor serve`` has
it), its Prometheus metrics left on (its default, like conveyor's)::

    BENCH_HTTP_MODEL=bench/out/http/model.json bench/.venvs/bentoml/bin/bentoml \
        serve peer_bentoml:Churn --working-dir bench/http --port 8003

The model is the skops file of the verified bundle (``BENCH_HTTP_MODEL`` names
the JSON file ``bench/http_serve.py`` writes), not a BentoML model-store entry:
where the bytes come from does not change the request path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import bentoml

_CONFIG = json.loads(Path(os.environ["BENCH_HTTP_MODEL"]).read_text(encoding="utf-8"))


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Churn:
    def __init__(self) -> None:
        import skops.io as sio

        sys.path.insert(0, _CONFIG["code_dir"])  # the pipeline's custom transformer classes
        self.model = sio.load(_CONFIG["skops"], trusted=_CONFIG["trusted_types"])
        self.classes = [str(c) for c in self.model.classes_]

    @bentoml.api
    def predict(self, record: dict[str, Any]) -> dict[str, Any]:
        import pandas as pd

        proba = self.model.predict_proba(pd.DataFrame([record]))[0]
        return {"probabilities": dict(zip(self.classes, proba.tolist()))}
