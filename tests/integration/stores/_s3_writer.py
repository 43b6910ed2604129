"""A writer process for the S3 atomicity tests (run as a script, killed mid-upload).

Usage: ``python _s3_writer.py artifact|log ENDPOINT BUCKET``

It first writes something small (which completes), prints ``first-done``,
then starts a large write that the test's stalling proxy holds mid-upload
until the test kills this process.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from conveyor.stores import ArtifactStore, FsspecBackend
from conveyor.stores.prediction_log import PredictionLog

KEY = "conveyor-test-key"
SECRET = "conveyor-test-secret-value"


def main() -> None:
    mode, endpoint, bucket = sys.argv[1:4]
    options = {
        "endpoint_url": endpoint,
        "key": KEY,
        "secret": SECRET,
        # One attempt: a retry would re-send the body the test is holding.
        "config_kwargs": {"retries": {"max_attempts": 1}, "read_timeout": 120},
    }
    if mode == "artifact":
        store = ArtifactStore(FsspecBackend(f"s3://{bucket}/store", **options))
        store.put_bytes(b"small and complete")
        print("first-done", flush=True)
        store.put_bytes(os.urandom(8 << 20))
    else:
        log = PredictionLog(f"s3://{bucket}/predictions", storage_options=options)
        now = datetime.now(UTC)
        log.append([_row(f"small-{i}", now, "x") for i in range(10)])
        log.flush()
        print("first-done", flush=True)
        log.append([_row(f"big-{i}", now, os.urandom(300).hex()) for i in range(20_000)])
        log.flush()
    print("finished", flush=True)  # never reached: the test kills us first


def _row(pid: str, ts: datetime, text: str) -> dict:
    return {
        "prediction_id": pid,
        "model": "churn",
        "version": 1,
        "ts": ts,
        "inputs": {"text": text},
        "prediction": "yes",
    }


if __name__ == "__main__":
    main()
