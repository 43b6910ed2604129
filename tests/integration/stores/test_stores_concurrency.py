"""Several real processes writing one store at once lose nothing and duplicate nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.stores import ArtifactStore, LocalBackend, MetadataStore

WORKER = Path(__file__).with_name("_stores_worker.py")
SRC = Path(__file__).resolve().parents[3] / "src"
WORKERS = 3
RUNS_PER_WORKER = 30


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/conveyor.db"
    return str(request.getfixturevalue("postgres_url"))


def _run_workers(mode: str, url: str, tmp_path: Path, count: int) -> list[dict[str, object]]:
    sync = tmp_path / "sync"
    sync.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                mode,
                url,
                str(tmp_path / "artifacts"),
                f"w{n}",
                str(count),
                str(sync),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(WORKERS)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(sync.glob("ready-*"))) < WORKERS:
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, failed[0].communicate()[1]
            assert time.monotonic() < deadline, "workers never got ready"
            time.sleep(0.01)
        (sync / "go").touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_concurrent_writers_record_everything_exactly_once(store_url: str, tmp_path: Path) -> None:
    results = _run_workers("write", store_url, tmp_path, RUNS_PER_WORKER)
    created = [run_id for result in results for run_id in result["runs"]]  # type: ignore[attr-defined]
    assert len(created) == WORKERS * RUNS_PER_WORKER == len(set(created))

    with MetadataStore(store_url) as store:
        assert store.migrated is False, "store opens cleanly at head"
        runs = store.list_runs(project="shared", limit=10_000)
        assert sorted(r.id for r in runs) == sorted(created)
        assert {r.status for r in runs} == {"succeeded"}
        for run in runs[:: max(1, len(runs) // 10)]:
            steps = store.list_steps(run.id)
            assert [s.name for s in steps] == ["collect", "train"]
            assert steps[1].inputs == steps[0].outputs
        with store.connect() as conn:
            artifact_rows = conn.execute(
                sa.text("SELECT kind, COUNT(*) FROM artifacts GROUP BY kind")
            )
            by_kind = dict(artifact_rows.all())
            step_rows = conn.execute(sa.text("SELECT COUNT(*) FROM steps")).scalar_one()
        assert by_kind == {"shared": 5, "own": WORKERS * RUNS_PER_WORKER}
        assert step_rows == 2 * WORKERS * RUNS_PER_WORKER

        versions = store.list_dataset_versions("shared", limit=10_000)
        per_worker_new = len(range(0, RUNS_PER_WORKER, 10))
        shared_seen = len({i % 4 for i in range(0, RUNS_PER_WORKER, 10)})
        assert len(versions) == shared_seen + WORKERS * per_worker_new
        assert sorted(v.version for v in versions) == list(range(1, len(versions) + 1))
        assert max(Counter(v.digest for v in versions).values()) == 1
        referenced = store.referenced_digests()

    artifacts = ArtifactStore(LocalBackend(tmp_path / "artifacts"))
    stored = set(artifacts.digests())
    assert len(stored) == 5 + WORKERS * RUNS_PER_WORKER
    assert stored <= referenced
    for digest in stored:
        artifacts.get_bytes(digest)  # verifies every blob
    assert not [p for p in (tmp_path / "artifacts").rglob(".tmp-*")], "temp files left"
    if store_url.startswith("sqlite"):
        db = store_url.removeprefix("sqlite:///")
        engine = sa.create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        engine.dispose()


def test_processes_opening_a_brand_new_store_at_once_all_succeed(
    store_url: str, tmp_path: Path
) -> None:
    results = _run_workers("open", store_url, tmp_path, 1)
    assert sum(bool(r["migrated"]) for r in results) == 1, results
    with MetadataStore(store_url) as store:
        assert store.migrated is False
        assert len(store.list_runs(project="race")) == WORKERS
        with store.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
