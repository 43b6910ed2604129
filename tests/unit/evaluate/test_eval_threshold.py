from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import ConfigError, ModelError
from conveyor.evaluate import ThresholdRule, choose_threshold, parse_threshold_rule

# Scores sorted ascending with their labels; cut-offs are the scores themselves.
SCORES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
LABELS = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1]


def _f1_at(cut: float) -> float:
    pred = np.array(SCORES) >= cut
    y = np.array(LABELS) == 1
    tp, fp, fn = (y & pred).sum(), (~y & pred).sum(), (y & ~pred).sum()
    return 2 * tp / (2 * tp + fp + fn)


def test_max_f1_finds_the_best_cut_off() -> None:
    choice = choose_threshold(LABELS, SCORES, rule="max_f1", positive_class=1)
    best = max(_f1_at(c) for c in SCORES)
    # Predicting every row from 0.3 up: TP 6, FP 2, FN 0 -> F1 12/14.
    assert best == pytest.approx(6 / 7)
    assert choice.achieved["f1"] == pytest.approx(best)
    assert choice.rule == "max_f1" and choice.note is None
    # Halfway between the neighbouring scores 0.2 and 0.3.
    assert choice.threshold == pytest.approx(0.25)


def test_precision_rule_takes_the_highest_recall_that_meets_it() -> None:
    choice = choose_threshold(LABELS, SCORES, rule="precision>=0.8", positive_class=1)
    assert choice.achieved["precision"] >= 0.8
    # From 0.3 precision is 6/8; from 0.5 it is 5/6 with recall 5/6 (the best that qualifies).
    assert choice.achieved["recall"] == pytest.approx(5 / 6)
    assert choice.threshold == pytest.approx(0.45)
    assert choice.rule == "precision>=0.8"
    strict = choose_threshold(LABELS, SCORES, rule="precision >= 1", positive_class=1)
    # Only the top 3 scores (0.8, 0.9, 0.95) are all positive.
    assert strict.achieved == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "positive_rate": 0.3}
    )
    assert strict.threshold == pytest.approx(0.75)


def test_recall_rule_takes_the_highest_precision_that_meets_it() -> None:
    choice = choose_threshold(LABELS, SCORES, rule="recall>=0.5", positive_class=1)
    assert choice.achieved["recall"] >= 0.5
    assert choice.achieved["precision"] == pytest.approx(1.0)


def test_unreachable_rule_falls_back_to_max_f1_with_a_note() -> None:
    y = [0, 1, 0, 1]
    p = [0.9, 0.8, 0.7, 0.1]  # the top score is a negative: precision never reaches 1 ...
    choice = choose_threshold(y, p, rule="precision>=0.99", positive_class=1)
    assert choice.rule == "max_f1"
    assert choice.requested == "precision>=0.99"
    assert "no cut-off reaches precision >= 0.99" in (choice.note or "")
    assert choice.achieved["f1"] == pytest.approx(
        choose_threshold(y, p, rule="max_f1", positive_class=1).achieved["f1"]
    )


def test_default_rule_and_single_class_data() -> None:
    assert choose_threshold(LABELS, SCORES, rule="default", positive_class=1).threshold == 0.5
    single = choose_threshold([1, 1, 1], [0.2, 0.6, 0.9], rule="max_f1", positive_class=1)
    assert single.threshold == 0.5 and single.rule == "default"
    assert "needs both classes" in (single.note or "")


def test_string_labels_and_positive_class() -> None:
    y = ["yes" if v else "no" for v in LABELS]
    choice = choose_threshold(y, SCORES, rule="max_f1", positive_class="yes")
    assert choice.achieved["f1"] == pytest.approx(6 / 7)


def test_bad_rules_and_inputs() -> None:
    for bad in ("f1", "precision>0.8", "precision>=1.5", "recall>=0", "precision>=x", ""):
        with pytest.raises(ConfigError, match=r"^evaluate\.threshold: cannot read"):
            parse_threshold_rule(bad)
    with pytest.raises(ConfigError, match=r"^evaluate\.threshold: cannot read 'best'"):
        choose_threshold(LABELS, SCORES, rule="best", positive_class=1)
    with pytest.raises(ModelError, match="10 labels but 2 probabilities"):
        choose_threshold(LABELS, [0.1, 0.2], rule="max_f1", positive_class=1)


def test_parse_threshold_rule_good() -> None:
    assert parse_threshold_rule("MAX_F1") == ThresholdRule("max_f1")
    assert parse_threshold_rule(" recall >= 0.7 ") == ThresholdRule("recall", 0.7)
    assert parse_threshold_rule("precision>=.8").text == "precision>=0.8"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=50),
    st.sampled_from(["max_f1", "precision>=0.6", "recall>=0.6", "default"]),
)
def test_choice_is_always_a_probability_and_reports_what_it_achieves(
    rows: list[tuple[bool, float]], rule: str
) -> None:
    y = [int(a) for a, _ in rows]
    p = [b for _, b in rows]
    choice = choose_threshold(y, p, rule=rule, positive_class=1)
    assert 0.0 <= choice.threshold <= 1.0
    pred = np.array(p) >= choice.threshold
    assert choice.achieved["positive_rate"] == pytest.approx(pred.mean())
    if choice.rule.startswith("precision") and choice.note is None:
        assert choice.achieved["precision"] >= 0.6
    if choice.rule.startswith("recall") and choice.note is None:
        assert choice.achieved["recall"] >= 0.6
    if choice.rule == "max_f1" and 0 < sum(y) < len(y):
        best = max(
            2
            * ((np.array(y) == 1) & (np.array(p) >= c)).sum()
            / (sum(y) + (np.array(p) >= c).sum())
            for c in p
        )
        assert choice.achieved["f1"] == pytest.approx(best)


def test_adjacent_floats_still_separate_the_classes() -> None:
    """Found by hypothesis: no midpoint exists between 0.0 and the smallest subnormal."""
    choice = choose_threshold([0, 1], [0.0, 5e-324], rule="max_f1", positive_class=1)
    assert choice.achieved["f1"] == 1.0
