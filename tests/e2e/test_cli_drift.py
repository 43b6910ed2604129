"""``conveyor drift REF CURRENT`` as a user runs it: files, dataset versions, a model's
reference statistics, and the ways it can go wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conveyor.bundle import build_reference


@pytest.fixture
def churn_files(tmp_path: Path, churn_csv: Path) -> Path:
    """reference.csv, same.parquet (unchanged rows) and shifted.csv (tenure +12, contract mix)."""
    frame = pl.read_csv(churn_csv, infer_schema_length=10_000)
    order = np.random.default_rng(0).permutation(frame.height)
    reference, current = frame[order[:4000]], frame[order[4000:]]
    reference.write_csv(tmp_path / "reference.csv")
    current.write_parquet(tmp_path / "same.parquet")
    current.with_columns(
        pl.col("tenure") + 12,
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.lit("Two year"))
        .otherwise(pl.col("contract"))
        .alias("contract"),
    ).write_csv(tmp_path / "shifted.csv")
    return tmp_path


def test_files_table_json_report_and_exit_codes(cli, churn_files: Path) -> None:
    quiet = cli("drift", "reference.csv", "same.parquet", "--fail-on-drift", cwd=churn_files)
    assert "no dataset drift: 0 of 20 column(s) drifted" in quiet.stdout
    assert "wasserstein" in quiet.stdout and "jensenshannon" in quiet.stdout

    shifted = cli(
        "drift", "reference.csv", "shifted.csv", "--report", "out/drift.html", cwd=churn_files
    )
    assert "2 of 20 column(s) drifted" in shifted.stdout  # share 0.1: no dataset drift
    html = (churn_files / "out" / "drift.html").read_text()
    assert "plotly" in html and "tenure" in html and "contract" in html
    assert "https://" not in html.split("<script")[0]  # self-contained

    doc = json.loads(cli("drift", "reference.csv", "shifted.csv", "--json", cwd=churn_files).stdout)
    assert doc["drifted_columns"] == ["tenure", "contract"]
    assert doc["reference"] == "reference.csv" and doc["n_current"] == 3043
    tenure = next(c for c in doc["columns"] if c["column"] == "tenure")
    assert tenure["method"] == "wasserstein" and tenure["statistic"] > tenure["threshold"]

    only = cli(
        "drift", "reference.csv", "shifted.csv", "--columns", "tenure,contract,female",
        "--fail-on-drift", cwd=churn_files, check=1,
    )  # fmt: skip
    assert "dataset drift: 2 of 3 column(s) drifted" in only.stdout


def test_small_current_sample_uses_tests(cli, churn_files: Path) -> None:
    pl.read_csv(churn_files / "shifted.csv").head(300).write_json(churn_files / "few.json")
    doc = json.loads(cli("drift", "reference.csv", "few.json", "--json", cwd=churn_files).stdout)
    methods = {c["column"]: c["method"] for c in doc["columns"]}
    assert methods["tenure"] == "ks" and methods["contract"] == "chi2"
    assert {"tenure", "contract"} <= set(doc["drifted_columns"])


def test_reference_statistics_file_with_predictions(cli, churn_files: Path) -> None:
    train = pl.read_csv(churn_files / "reference.csv")
    stats = build_reference(
        train, train["churn"].to_numpy(), numeric=["tenure", "monthly_charges"],
        categorical=["contract"], seed=0, task="binary",
    )  # fmt: skip
    (churn_files / "reference.json").write_text(json.dumps(stats))
    pl.read_csv(churn_files / "shifted.csv").with_columns(prediction=pl.lit("Yes")).write_csv(
        churn_files / "scored.csv"
    )
    out = cli("drift", "reference.json", "scored.csv", cwd=churn_files)
    assert "prediction (prediction)" in out.stdout and "churn" not in out.stdout
    assert "0 of 3 column(s) drifted" not in out.stdout
    bundle = churn_files / "bundle"
    bundle.mkdir()
    (bundle / "reference.json").write_text(json.dumps(stats))
    doc = json.loads(
        cli("drift", "bundle", "scored.csv", "--columns", "tenure,contract", "--json",
            cwd=churn_files).stdout
    )  # fmt: skip
    assert [c["column"] for c in doc["columns"]] == ["tenure", "contract"]
    assert doc["drifted_columns"] == ["tenure", "contract"]
    assert doc["prediction"]["drifted"]  # everyone predicted to churn


def test_dataset_versions_of_a_project(cli, data_project: Path) -> None:
    cli("run", cwd=data_project)
    data = data_project / "data" / "churn.csv"
    pl.read_csv(data, infer_schema_length=10_000).with_columns(
        pl.col("monthly_charges") * 1.5
    ).write_csv(data)
    cli("run", cwd=data_project)
    doc = json.loads(cli("drift", "v1", "v2", "--json", cwd=data_project).stdout)
    assert doc["reference"] == "dataset v1" and doc["current"] == "dataset v2"
    assert doc["drifted_columns"] == ["monthly_charges"]
    same = json.loads(cli("drift", "1", "data/churn.csv", "--json", cwd=data_project).stdout)
    assert same["drifted_columns"] == ["monthly_charges"]


def test_bad_input_exits_2_with_the_reason(cli, churn_files: Path) -> None:
    missing = cli("drift", "reference.csv", "nope.csv", cwd=churn_files, check=2)
    assert "current 'nope.csv': no such file, and not a dataset version" in missing.stderr

    (churn_files / "empty.csv").write_text("")
    empty = cli("drift", "reference.csv", "empty.csv", cwd=churn_files, check=2)
    assert "empty.csv: the file is empty" in empty.stderr

    pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}).write_csv(churn_files / "other.csv")
    disjoint = cli("drift", "reference.csv", "other.csv", cwd=churn_files, check=2)
    assert "the two datasets share no column" in disjoint.stderr

    text = pl.read_csv(churn_files / "shifted.csv").with_columns(pl.lit("n/a").alias("tenure"))
    text.write_csv(churn_files / "text.csv")
    bad_type = cli("drift", "reference.csv", "text.csv", "--columns", "tenure",
                   cwd=churn_files, check=2)  # fmt: skip
    assert "column 'tenure' is numeric in the reference, but the current data holds 'n/a'" in (
        bad_type.stderr
    )


def test_old_reference_format_is_refused_with_the_fix(cli, churn_files: Path) -> None:
    old = {"n_rows": 10, "features": {"tenure": {"kind": "numeric", "count": 10}}}
    (churn_files / "old.json").write_text(json.dumps(old))
    proc = cli("drift", "old.json", "same.parquet", cwd=churn_files, check=2)
    assert "old.json has no format_version" in proc.stderr
    assert "format_version 1 and 2" in proc.stderr
    assert "hint: re-register the model" in proc.stderr and "retrain" in proc.stderr
