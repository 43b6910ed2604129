"""Batch scoring of partitioned Parquet on a real Dask cluster: same output as scoring here."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conveyor.errors import ConfigError, DataError, SchemaError
from conveyor.project import Project
from conveyor.serve.batch import score_file
from conveyor.testing.churn import trained_churn_project


@pytest.fixture(scope="module")
def churn_project(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    """A project with one registered logreg churn model (champion)."""
    return trained_churn_project(tmp_path_factory.mktemp("dask-score") / "proj", churn_csv)


@pytest.fixture(scope="module")
def rows(churn_project: Path) -> pl.DataFrame:
    """Input rows without the target, with an id column and a few invalid values."""
    frame = pl.read_csv(churn_project / "data" / "churn.csv").drop("churn")
    frame = frame.with_row_index("customer_id")
    row = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(row == 7).then(pl.lit("Two decades")).otherwise("contract").alias("contract")
    )


def _write_parts(frame: pl.DataFrame, root: Path, n: int) -> None:
    size = -(-frame.height // n)
    for i, part in enumerate(frame.iter_slices(n_rows=size)):
        folder = root / f"day={i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        part.write_parquet(folder / f"part-{i:03d}.parquet")


def _score(root: Path, **kwargs: Any) -> Any:
    with Project(root) as project:
        version = project.registry.resolve("churn@champion")
        return score_file(version, project.artifacts, **kwargs)


def _read_dir(folder: Path) -> pl.DataFrame:
    files = sorted(p for p in folder.rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    got, want = got.sort("customer_id"), want.sort("customer_id")
    assert got.columns == want.columns
    probas = [c for c in got.columns if c.startswith("proba_")]
    assert got.drop(probas).equals(want.drop(probas))
    for col in probas:
        assert (got[col] - want[col]).abs().max() < 1e-12, col


def test_parts_scored_on_dask_match_scoring_the_whole_input(
    two_workers: Any, churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    _write_parts(rows, tmp_path / "in", 5)
    rows.write_parquet(tmp_path / "all.parquet")
    whole = _score(churn_project, input=str(tmp_path / "all.parquet"),
                   output=str(tmp_path / "all-out.parquet"), chunk_rows=1000)  # fmt: skip
    parts = _score(churn_project, input=str(tmp_path / "in"), output=str(tmp_path / "out"),
                   chunk_rows=1000, client=two_workers)  # fmt: skip
    assert (parts.rows_in, parts.rows_scored, parts.rows_rejected) == (
        whole.rows_in, whole.rows_scored, whole.rows_rejected,
    )  # fmt: skip
    assert parts.rows_rejected == 1
    outputs = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*.parquet"))  # fmt: skip
    inputs = sorted(p.relative_to(tmp_path / "in").as_posix()
                    for p in (tmp_path / "in").rglob("*.parquet"))  # fmt: skip
    assert outputs == inputs  # one output part per input part, same layout
    _assert_same(_read_dir(tmp_path / "out"), pl.read_parquet(tmp_path / "all-out.parquet"))
    rejected = _read_dir(Path(str(parts.rejects)))
    assert rejected["customer_id"].to_list() == ["7"]
    assert "contract" in rejected["__reason"][0]
    # A rerun of the same job finds every part done.
    again = _score(churn_project, input=str(tmp_path / "in"), output=str(tmp_path / "out"),
                   chunk_rows=1000, client=two_workers)  # fmt: skip
    assert again.rows_scored == parts.rows_scored and "5 part(s), 5 already done" in again.notes


def test_glob_input_scored_here_matches_dask(
    two_workers: Any, churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    _write_parts(rows.head(3000), tmp_path / "in", 4)
    pattern = str(tmp_path / "in" / "day=*" / "*.parquet")
    here = _score(churn_project, input=pattern, output=str(tmp_path / "here"), chunk_rows=500)
    there = _score(churn_project, input=pattern, output=str(tmp_path / "there"), chunk_rows=500,
                   client=two_workers)  # fmt: skip
    assert here.rows_scored == there.rows_scored == 2999
    _assert_same(_read_dir(tmp_path / "there"), _read_dir(tmp_path / "here"))


def test_bad_partitioned_inputs_fail_before_any_output(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="no Parquet part found"):
        _score(
            churn_project, input=str(tmp_path / "none" / "*.parquet"), output=str(tmp_path / "o")
        )
    (tmp_path / "in").mkdir()
    rows.head(50).write_parquet(tmp_path / "in" / "a.parquet")
    rows.slice(50, 50).drop("tenure").write_parquet(tmp_path / "in" / "b.parquet")
    with pytest.raises(SchemaError, match="tenure"):
        _score(churn_project, input=str(tmp_path / "in"), output=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    (tmp_path / "in" / "b.parquet").unlink()
    (tmp_path / "file.parquet").write_bytes(b"")
    with pytest.raises(ConfigError, match="is a file"):
        _score(churn_project, input=str(tmp_path / "in"), output=str(tmp_path / "file.parquet"))


def test_cli_scores_parts_on_the_projects_dask_scheduler(
    two_workers: Any, churn_project: Path, rows: pl.DataFrame, tmp_path: Path, capsys: Any
) -> None:
    from conveyor.cli.main import main

    _write_parts(rows.head(2000), tmp_path / "in", 3)
    address = two_workers.scheduler.address
    code = main(["score", "-c", str(churn_project), "--model", "churn@champion",
                 "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")])  # fmt: skip
    assert code == 0
    config = (churn_project / "conveyor.yaml").read_text()
    dask_project = tmp_path / "dask-proj"
    dask_project.mkdir()
    (dask_project / "conveyor.yaml").write_text(
        config + f"executor:\n  type: dask\n  address: {address}\n"
    )
    os.symlink(churn_project / ".conveyor", dask_project / ".conveyor")
    code = main(["score", "-c", str(dask_project), "--model", "churn@champion",
                 "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out-dask")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "scored 1,999 of 2,000 rows" in " ".join(capsys.readouterr().out.split())
    _assert_same(_read_dir(tmp_path / "out-dask"), _read_dir(tmp_path / "out"))


def test_a_worker_killed_mid_job_is_replaced_and_the_output_is_complete(
    two_workers: Any, churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    big = pl.concat([rows.with_columns(pl.col("customer_id") + i * rows.height) for i in range(4)])
    _write_parts(big, tmp_path / "in", 6)
    result: dict[str, Any] = {}

    def job() -> None:
        try:
            result["ok"] = _score(churn_project, input=str(tmp_path / "in"),
                                  output=str(tmp_path / "out"), chunk_rows=200,
                                  client=two_workers)  # fmt: skip
        except BaseException as exc:  # re-raised in the test's thread below
            result["error"] = exc

    thread = threading.Thread(target=job)
    thread.start()
    victim = _busy_worker(two_workers, deadline=time.monotonic() + 60)
    progress = tmp_path / "out" / "_progress.json"
    done_before = len(json.loads(progress.read_text())["done"]) if progress.exists() else 0
    pid = two_workers.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    thread.join(180)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    assert done_before < 6  # the kill landed while parts were still being scored
    assert victim not in two_workers.scheduler_info()["workers"]  # that worker is gone
    assert result["ok"].rows_in == big.height
    scored = _read_dir(tmp_path / "out")
    assert scored.height == big.height - 4 and scored["customer_id"].n_unique() == scored.height
    big.write_parquet(tmp_path / "all.parquet")
    _score(churn_project, input=str(tmp_path / "all.parquet"),
           output=str(tmp_path / "all-out.parquet"), chunk_rows=5000)  # fmt: skip
    _assert_same(scored, pl.read_parquet(tmp_path / "all-out.parquet"))


def _busy_worker(client: Any, *, deadline: float) -> str:
    """The address of a worker running a scoring task (waits until one is)."""
    while time.monotonic() < deadline:
        for worker, tasks in client.processing().items():
            if any("_score_part" in str(t) for t in tasks):
                time.sleep(0.3)  # let it write a few chunks first
                return worker
        time.sleep(0.02)
    raise AssertionError("no worker started a scoring task within 60 s")
