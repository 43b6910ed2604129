"""A small, real churn project for tests of the serving paths.

The churn example trimmed to what serving tests need: one fast model (logistic
regression, no CV or permutation importance) and a valid request record.
Tests of HTTP, batch, stream and build share them instead of each keeping a copy.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHURN_LOGREG_CONFIG", "CHURN_RECORD", "trained_churn_project"]

CHURN_LOGREG_CONFIG = """
version: 1
project: churn
task: binary
target: churn
positive_class: "Yes"
data:
  sources:
    - path: data/churn.csv
validate:
  on_violation: drop_rows
clean:
  - op: drop_duplicates
  - op: fill_missing
    strategy: median
    columns: [total_charges]
split:
  method: stratified
  train: 0.7
  validation: 0.15
  test: 0.15
models:
  - name: logreg
    estimator: logistic_regression
    params: {C: 1.0, max_iter: 500}
evaluate:
  primary_metric: roc_auc
  cv_folds: null
  permutation_importance: false
promotion:
  model_name: churn
  min_delta: 0.0
"""

CHURN_RECORD = {
    "female": 1.0,
    "senior_citizen": 0,
    "partner": 1.0,
    "dependents": 0.0,
    "tenure": 12,
    "phone_service": 1.0,
    "multiple_lines": "No",
    "internet_service": "Fiber optic",
    "online_security": "No",
    "online_backup": "Yes",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "Yes",
    "streaming_movies": "No",
    "contract": "Month-to-month",
    "paperless_billing": 1.0,
    "payment_method": "Electronic check",
    "monthly_charges": 80.5,
    "total_charges": 966.0,
}


def trained_churn_project(root: Path, churn_csv: Path) -> Path:
    """``root`` as a churn project (:data:`CHURN_LOGREG_CONFIG`) with its model trained and
    registered as champion; returns ``root``."""
    from conveyor.project import Project

    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG, encoding="utf-8")
    with Project(root) as project:
        project.run()
    return root
