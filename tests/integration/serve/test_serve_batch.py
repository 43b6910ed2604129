"""Batch scoring (``conveyor score``) against a real registered churn model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from conveyor.errors import ConfigError, SchemaError
from conveyor.pipeline.scoring import predict_file
from conveyor.project import Project
from conveyor.serve.batch import score_file
from conveyor.testing.churn import trained_churn_project


@pytest.fixture(scope="module")
def churn_project(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    """A project with one registered logreg churn model (champion)."""
    return trained_churn_project(tmp_path_factory.mktemp("score") / "proj", churn_csv)


@pytest.fixture(scope="module")
def rows(churn_project: Path) -> pl.DataFrame:
    """500 clean input rows (no target) with an id column."""
    frame = pl.read_csv(churn_project / "data" / "churn.csv").drop("churn").drop_nulls()
    return frame.head(500).with_row_index("customer_id").with_columns(pl.col("customer_id") + 1000)


def _score(project_root: Path, **kwargs):
    with Project(project_root) as project:
        version = project.registry.resolve("churn@champion")
        return score_file(version, project.artifacts, **kwargs)


def _reference(project_root: Path, frame: pl.DataFrame, tmp: Path) -> pl.DataFrame:
    src, out = tmp / "ref_in.parquet", tmp / "ref_out.parquet"
    frame.write_parquet(src)
    with Project(project_root) as project:
        predict_file(project.registry.resolve("churn@champion"), project.artifacts, src, out)
    return pl.read_parquet(out)


def _assert_same_predictions(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got["customer_id"].to_list() == want["customer_id"].to_list()
    assert got["prediction"].to_list() == want["prediction"].to_list()
    for col in ("proba_No", "proba_Yes"):
        diff = (got[col] - want[col]).abs().max()
        assert diff is not None and diff < 1e-9, col


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_file_formats_match_predict(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path, fmt: str
) -> None:
    src = tmp_path / f"in.{fmt}"
    {"csv": rows.write_csv, "parquet": rows.write_parquet, "jsonl": rows.write_ndjson}[fmt](src)
    out = tmp_path / ("out.csv" if fmt == "jsonl" else "out.parquet")
    seen: list[tuple[int, int | None]] = []
    result = _score(
        churn_project,
        input=str(src),
        output=str(out),
        chunk_rows=120,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (500, 500, 0)
    assert result.chunks == 5 and result.rejects is None and result.resumed_chunks == 0
    assert seen == [(120, 500), (240, 500), (360, 500), (480, 500), (500, 500)]
    got = pl.read_csv(out) if out.suffix == ".csv" else pl.read_parquet(out)
    _assert_same_predictions(got, _reference(churn_project, rows, tmp_path))
    assert not out.with_name(f"{out.name}.parts").exists()


def test_sqlite_table_in_and_out(churn_project: Path, rows: pl.DataFrame, tmp_path: Path) -> None:
    db = tmp_path / "scores.db"
    rows.write_database("customers", f"sqlite:///{db}")
    url = f"sql://sqlite:///{db}"
    result = _score(
        churn_project,
        input=f"{url}?table=customers",
        output=f"{url}?table=scores",
        chunk_rows=200,
    )
    assert (result.rows_in, result.rows_scored, result.chunks) == (500, 500, 3)
    got = pl.read_database("SELECT * FROM scores", sqlite3.connect(db))
    _assert_same_predictions(got, _reference(churn_project, rows, tmp_path))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM _conveyor_batch").fetchone() == (3,)

    # The same job again resumes every chunk and appends nothing.
    again = _score(
        churn_project, input=f"{url}?table=customers", output=f"{url}?table=scores", chunk_rows=200
    )
    assert again.resumed_chunks == 3 and again.rows_in == 500
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone() == (500,)
    # A table this job did not write is never appended to.
    with pytest.raises(ConfigError, match="already exists"):
        _score(
            churn_project,
            input=f"{url}?query=SELECT * FROM customers",
            output=f"{url}?table=scores",
        )
    with pytest.raises(ConfigError, match="exactly one"):
        _score(churn_project, input=f"{url}", output=str(tmp_path / "x.parquet"))


def test_invalid_rows_go_to_rejects_with_reasons(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    frame = rows.head(50).with_columns(pl.all().cast(pl.String))
    frame = frame.with_columns(
        pl.when(pl.col("customer_id") == "1003")
        .then(pl.lit("Two decades"))
        .otherwise(pl.col("contract"))
        .alias("contract"),
        pl.when(pl.col("customer_id") == "1010")
        .then(pl.lit("abc"))
        .otherwise(pl.col("tenure"))
        .alias("tenure"),
        pl.when(pl.col("customer_id") == "1020")
        .then(pl.lit("NaN"))
        .otherwise(pl.col("monthly_charges"))
        .alias("monthly_charges"),
    )
    src = tmp_path / "bad.csv"
    frame.write_csv(src)
    out = tmp_path / "out.csv"
    result = _score(churn_project, input=str(src), output=str(out), chunk_rows=16)
    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (50, 47, 3)
    rejects = pl.read_csv(result.rejects, infer_schema=False)
    assert result.rejects == str(tmp_path / "out.rejects.csv")
    by_row = dict(zip(rejects["__row"].cast(int).to_list(), rejects["__reason"].to_list()))
    assert set(by_row) == {3, 10, 20}
    assert "contract" in by_row[3] and "unknown category" in by_row[3]
    assert "tenure" in by_row[10] and "expected integer" in by_row[10] and "abc" in by_row[10]
    assert "monthly_charges" in by_row[20] and "nan is not allowed" in by_row[20]
    assert rejects.filter(pl.col("__row") == "10")["tenure"].item() == "abc"
    scored = pl.read_csv(out)
    assert 1003 not in scored["customer_id"].to_list() and scored.height == 47


def test_resume_after_interruption_has_no_duplicates(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.write_parquet(src)

    def boom(done: int, total: int | None) -> None:
        if done >= 200:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _score(
            churn_project,
            input=str(src),
            output=str(out),
            chunk_rows=100,
            on_progress=boom,
            workers=1,
        )
    progress = json.loads((tmp_path / "out.parquet.parts" / "_progress.json").read_text())
    assert sorted(progress["done"]) == ["0", "1"]
    assert not out.exists()

    result = _score(churn_project, input=str(src), output=str(out), chunk_rows=100)
    assert result.resumed_chunks == 2 and result.rows_in == 500 and result.rows_scored == 500
    got = pl.read_parquet(out)
    assert got["customer_id"].n_unique() == 500
    _assert_same_predictions(got, _reference(churn_project, rows, tmp_path))


def test_changed_job_starts_over(churn_project: Path, rows: pl.DataFrame, tmp_path: Path) -> None:
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.write_parquet(src)

    def boom(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _score(churn_project, input=str(src), output=str(out), chunk_rows=100, on_progress=boom)
    result = _score(churn_project, input=str(src), output=str(out), chunk_rows=250)
    assert result.resumed_chunks == 0 and result.rows_scored == 500
    assert any("starting over" in n for n in result.notes)
    assert pl.read_parquet(out).height == 500


def test_large_input_is_processed_in_bounded_chunks(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    big = pl.concat([rows] * 600)  # 300,000 rows
    src, out = tmp_path / "big.parquet", tmp_path / "big_out.parquet"
    big.write_parquet(src)
    sizes: list[int] = []
    result = _score(
        churn_project,
        input=str(src),
        output=str(out),
        chunk_rows=50_000,
        on_progress=lambda done, total: sizes.append(done),
    )
    assert result.chunks == 6 and sizes == [50_000 * i for i in range(1, 7)]
    assert result.rows_scored == 300_000
    assert pl.scan_parquet(out).select(pl.len()).collect().item() == 300_000


def test_missing_columns_is_a_schema_error_before_output(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    rows.drop("tenure", "contract").write_csv(src)
    with pytest.raises(SchemaError, match="tenure, contract"):
        _score(churn_project, input=str(src), output=str(out))
    assert not out.exists() and not (tmp_path / "out.parquet.parts").exists()


def test_cli_score(churn_project: Path, rows: pl.DataFrame, tmp_path: Path, capsys) -> None:
    from conveyor.cli.main import main

    src, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    rows.write_csv(src)
    code = main(
        [
            "score",
            "-c",
            str(churn_project),
            "--model",
            "churn@champion",
            "--input",
            str(src),
            "--output",
            str(out),
            "--chunk-rows",
            "100",
        ]
    )
    assert code == 0
    # Rich wraps long lines to the terminal width: compare with whitespace folded.
    assert "scored 500 of 500 rows with churn:1" in " ".join(capsys.readouterr().out.split())
    assert pl.read_parquet(out).height == 500

    rows.drop("tenure").write_csv(src)
    code = main(
        [
            "score",
            "-c",
            str(churn_project),
            "--model",
            "churn@champion",
            "--input",
            str(src),
            "--output",
            str(out),
            "--no-resume",
        ]
    )
    assert code == 2
    assert "missing column(s) tenure" in " ".join(capsys.readouterr().err.split())


def _assert_same_output(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Equal frames, except probabilities may differ in the last bits.

    BLAS sums a different number of rows at once when the batch size changes,
    so the same row can come out 1 ulp apart; every other column is exact.
    """
    assert got.schema == want.schema
    probas = [c for c in got.columns if c.startswith("proba_")]
    assert got.drop(probas).equals(want.drop(probas))
    for col in probas:
        assert (got[col] - want[col]).abs().max() < 1e-12, col


def _with_bad_values(rows: pl.DataFrame, n: int) -> pl.DataFrame:
    """``n`` rows as text, with a bad value in rows 3 (category), 10 (type) and 25 (NaN)."""
    frame = rows.head(n).with_columns(pl.all().cast(pl.String))
    row = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(row == 3).then(pl.lit("Two decades")).otherwise("contract").alias("contract"),
        pl.when(row == 10).then(pl.lit("abc")).otherwise("tenure").alias("tenure"),
        pl.when(row == 25)
        .then(pl.lit("NaN"))
        .otherwise("monthly_charges")
        .alias("monthly_charges"),
    )


def test_chunk_size_does_not_change_the_output(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    _with_bad_values(rows, 60).write_csv(src)
    outputs = {}
    for size in (7, 60):
        out = tmp_path / f"out-{size}.parquet"
        result = _score(churn_project, input=str(src), output=str(out), chunk_rows=size)
        assert (result.rows_scored, result.rows_rejected) == (57, 3)
        assert result.chunks == -(-60 // size)
        outputs[size] = (pl.read_parquet(out), pl.read_parquet(result.rejects))
    _assert_same_output(outputs[7][0], outputs[60][0])
    assert outputs[7][1].equals(outputs[60][1])
    assert outputs[7][1]["__row"].to_list() == [3, 10, 25]


def test_resume_keeps_rejects_of_chunks_done_before(
    churn_project: Path, rows: pl.DataFrame, tmp_path: Path
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    _with_bad_values(rows, 30).write_csv(src)  # of 6 chunks of 5 rows, 0, 2 and 5 reject one

    def boom(done: int, total: int | None) -> None:
        if done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _score(churn_project, input=str(src), output=str(out), chunk_rows=5, on_progress=boom)
    parts = sorted(p.name for p in (tmp_path / "out.parquet.parts").glob("*.parquet"))
    # A chunk without rejects writes no rejects part; the manifest records its zero.
    assert parts == ["part-00001.parquet", "part-00002.parquet", "rejects-00001.parquet"]
    result = _score(churn_project, input=str(src), output=str(out), chunk_rows=5)
    assert result.resumed_chunks == 2 and (result.rows_scored, result.rows_rejected) == (27, 3)
    assert pl.read_parquet(result.rejects)["__row"].to_list() == [3, 10, 25]


FLIGHTS_CONFIG = """
version: 1
project: flights
task: binary
target: delayed
positive_class: "yes"
data:
  sources:
    - path: data/flights.parquet
validate:
  enabled: false
split:
  method: stratified
features:
  numeric: [distance]
  categorical: [origin]
  datetime: [date]
  datetime_defaults:
    parts: [month, dayofweek, hour]
models:
  - name: logreg
    estimator: logistic_regression
    params: {C: 1.0, max_iter: 300}
evaluate:
  primary_metric: roc_auc
  cv_folds: null
  permutation_importance: false
promotion:
  model_name: flights
"""


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> tuple[Path, Path]:
    """A project whose model reads a datetime column, and 400 other flights to score."""
    data = pl.read_parquet(shared_datasets / "flights" / "flights-3m.parquet", n_rows=200_000)
    data = data.sample(2_400, seed=7).drop("destination")
    root = tmp_path_factory.mktemp("flights") / "proj"
    (root / "data").mkdir(parents=True)
    train = data.head(2_000).with_columns(
        delayed=pl.when(pl.col("delay") > 15).then(pl.lit("yes")).otherwise(pl.lit("no"))
    )
    train.drop("delay").write_parquet(root / "data" / "flights.parquet")
    (root / "conveyor.yaml").write_text(FLIGHTS_CONFIG, encoding="utf-8")
    with Project(root) as project:
        project.run()
    to_score = root.parent / "to_score.parquet"
    data.tail(400).with_row_index("flight_id").write_parquet(to_score)
    return root, to_score


def test_datetime_model_matches_predict_whatever_the_chunks_and_format(
    flights: tuple[Path, Path], tmp_path: Path
) -> None:
    root, src = flights

    def score(input_path: Path, size: int) -> tuple[pl.DataFrame, list[int]]:
        out = tmp_path / f"out-{input_path.suffix[1:]}-{size}.parquet"
        with Project(root) as project:
            version = project.registry.resolve("flights@champion")
            result = score_file(
                version, project.artifacts, input=str(input_path), output=str(out), chunk_rows=size
            )
        rejected = pl.read_parquet(result.rejects)["__row"].to_list() if result.rejects else []
        return pl.read_parquet(out), rejected

    whole, rejected = score(src, 400)
    # Origins the 2,000 training rows never saw are rejected, named in the reason.
    frame = pl.read_parquet(src)
    assert whole.height + len(rejected) == 400
    assert whole.schema["date"] == pl.Datetime("us")
    chunked, rejected_7 = score(src, 7)
    _assert_same_output(chunked, whole)
    assert rejected_7 == rejected

    # The same rows as CSV: dates are text, parsed per chunk to the same values.
    as_csv = tmp_path / "in.csv"
    frame.write_csv(as_csv)
    from_csv, rejected_csv = score(as_csv, 7)
    assert rejected_csv == rejected
    # Columns the model does not read stay as the CSV reader typed them.
    _assert_same_output(from_csv.drop("delay", "flight_id"), whole.drop("delay", "flight_id"))

    kept = frame.filter(~pl.col("flight_id").is_in(rejected))
    reference = tmp_path / "kept.parquet"
    kept.write_parquet(reference)
    want = _reference_flights(root, reference, tmp_path)
    assert whole["flight_id"].to_list() == want["flight_id"].to_list()
    assert whole["prediction"].to_list() == want["prediction"].to_list()
    assert (whole["proba_yes"] - want["proba_yes"]).abs().max() < 1e-12


def _reference_flights(root: Path, src: Path, tmp: Path) -> pl.DataFrame:
    out = tmp / "ref_flights.parquet"
    with Project(root) as project:
        predict_file(project.registry.resolve("flights@champion"), project.artifacts, src, out)
    return pl.read_parquet(out)
