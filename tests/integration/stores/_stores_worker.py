"""A separate process that hammers a shared store (run by test_stores_concurrency.py).

Usage: python _stores_worker.py MODE URL ARTIFACT_ROOT TAG COUNT SYNC_DIR

It imports everything, writes ``SYNC_DIR/ready-TAG``, waits for ``SYNC_DIR/go``
(so all workers start at the same instant), does its work and prints a JSON
summary on stdout.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from conveyor.stores import ArtifactStore, LocalBackend, MetadataStore

SHARED_BLOBS = 5
SHARED_DATASETS = 4


def _wait_for_go(sync: Path, tag: str) -> None:
    (sync / f"ready-{tag}").touch()
    deadline = time.monotonic() + 60
    while not (sync / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("never got the go signal")
        time.sleep(0.002)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write(url: str, artifact_root: Path, tag: str, count: int, sync: Path) -> dict[str, object]:
    artifacts = ArtifactStore(LocalBackend(artifact_root))
    _wait_for_go(sync, tag)
    store = MetadataStore(url)
    run_ids = []
    for i in range(count):
        run_id = store.create_run(
            "shared", config={"worker": tag, "i": i}, config_fingerprint=f"{tag}-{i}", pid=1
        )
        shared = artifacts.put_bytes(f"shared blob {i % SHARED_BLOBS}".encode())
        own = artifacts.put_bytes(f"blob of {tag} #{i}".encode())
        for digest, kind in ((shared, "shared"), (own, "own")):
            store.record_artifact(digest, kind=kind, size=artifacts.size(digest))
        first = store.start_step(run_id, "collect", fingerprint=f"c-{tag}-{i}", position=0)
        store.finish_step(first, status="succeeded", outputs={"dataset": shared})
        second = store.start_step(run_id, "train", fingerprint=f"t-{tag}-{i}", position=1)
        store.finish_step(second, status="succeeded", inputs={"dataset": shared},
                          outputs={"model": own})  # fmt: skip
        if i % 10 == 0:
            # Same data seen by every worker (idempotent) and new data (numbered).
            store.record_dataset_version(
                "shared", digest=_digest(f"data {i % SHARED_DATASETS}"), rows=i, columns=2,
                schema={}, source={"worker": tag}, run_id=run_id,
            )  # fmt: skip
            store.record_dataset_version(
                "shared", digest=_digest(f"data of {tag} {i}"), rows=i, columns=2,
                schema={}, source={}, run_id=run_id,
            )  # fmt: skip
        store.finish_run(run_id, status="succeeded", summary={"i": i})
        run_ids.append(run_id)
    store.close()
    return {"runs": run_ids}


def open_fresh(url: str, tag: str, sync: Path) -> dict[str, object]:
    _wait_for_go(sync, tag)
    with MetadataStore(url) as store:
        run_id = store.create_run("race", config={}, config_fingerprint=tag)
        return {"runs": [run_id], "migrated": store.migrated}


def main(argv: list[str]) -> None:
    mode, url, artifact_root, tag, count, sync = argv
    if mode == "write":
        result = write(url, Path(artifact_root), tag, int(count), Path(sync))
    else:
        result = open_fresh(url, tag, Path(sync))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
