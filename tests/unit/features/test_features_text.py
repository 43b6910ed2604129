"""Free text end to end: the Amazon reviews train a classifier well above the majority baseline."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conveyor.config.models import FeaturesConfig
from conveyor.features import build_preprocessor, detect_column_types, feature_names, to_model_frame


@pytest.mark.slow
def test_amazon_reviews_train_end_to_end(shared_datasets: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    folder = shared_datasets / "amazon_reviews"
    train = pl.read_csv(folder / "training_data.csv")
    test = pl.read_csv(folder / "testing_data.csv")
    config = FeaturesConfig.model_validate({"text_defaults": {"max_features": 5000}})

    types = detect_column_types(train, target="score", id_column=None, config=config)
    assert types.text == ("review",)
    assert "score" not in types.features

    pre = build_preprocessor(config, types, task="binary", seed=0)
    X_train = pre.fit_transform(to_model_frame(train.drop("score")), train["score"].to_numpy())
    assert X_train.shape == (4000, len(feature_names(pre)))
    model = LogisticRegression(max_iter=1000).fit(X_train, train["score"].to_numpy())

    X_test = pre.transform(to_model_frame(test.drop("score")))
    accuracy = model.score(X_test, test["score"].to_numpy())
    baseline = test["score"].value_counts()["count"].max() / test.height
    assert accuracy > baseline + 0.08, (
        f"accuracy {accuracy:.3f} vs majority baseline {baseline:.3f}"
    )
