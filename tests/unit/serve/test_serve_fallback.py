"""Fallback policy: rule parsing, source order and confidence checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from conveyor.config.models import FallbackConfig, ServeConfig
from conveyor.errors import ConfigError
from conveyor.serve.fallback import FallbackPolicy

RULES = [
    {"when": "contract == 'Month-to-month' and tenure < 6", "label": "Yes"},
    {"when": "tenure > 60", "label": "No"},
]


def policy(**section: Any) -> FallbackPolicy:
    return FallbackPolicy(FallbackConfig.model_validate(section))


def test_bad_rule_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as info:
        policy(rules=[RULES[0], {"when": "tenure <", "label": "No"}])
    assert "serve.fallback.rules[1].when" in str(info.value)


def test_first_matching_rule_then_constant() -> None:
    p = policy(rules=RULES, constant={"label": "No"})
    assert p.static_answer({"contract": "Month-to-month", "tenure": 2}) == (
        {"label": "Yes"},
        "rule[0]",
    )
    assert p.static_answer({"contract": "One year", "tenure": 61}) == ({"label": "No"}, "rule[1]")
    assert p.static_answer({"contract": "One year", "tenure": 20}) == ({"label": "No"}, "constant")
    # null is "unknown": the rule does not match; a wrong type skips the rule
    assert p.static_answer({"contract": "Month-to-month"})[1] == "constant"
    assert p.static_answer({"contract": "Month-to-month", "tenure": "few"})[1] == "constant"
    assert policy(rules=RULES).static_answer({"tenure": 30}) is None


def test_answers_try_rules_previous_version_then_constant() -> None:
    records = [{"tenure": 70}, {"tenure": 10}, {"tenure": 20}]
    seen: list[list[Any]] = []

    def previous(recs: list[Any]) -> tuple[int, list[dict[str, Any]]]:
        seen.append(recs)
        return 1, [{"label": "Yes", "probabilities": {"No": 0.2, "Yes": 0.8}} for _ in recs]

    p = policy(rules=RULES, previous_version=True, constant={"label": "No"})
    out = p.answers(records, [0, 1, 2], "error", previous=previous)
    assert seen == [[{"tenure": 10}, {"tenure": 20}]]
    assert out[0] == {"label": "No", "fallback_source": "rule[1]", "fallback_reason": "error"}
    assert out[1]["version"] == 1 and out[1]["fallback_source"] == "previous_version"
    assert out[2]["fallback_reason"] == "error" and out[2]["probabilities"]["Yes"] == 0.8


def test_previous_version_failing_falls_to_constant_or_nothing() -> None:
    def broken(recs: list[Any]) -> tuple[int, list[dict[str, Any]]]:
        raise LookupError("no previous version")

    records = [{"tenure": 10}]
    with_constant = policy(previous_version=True, constant={"value": 3.5})
    assert with_constant.answers(records, [0], "latency", previous=broken) == {
        0: {"value": 3.5, "fallback_source": "constant", "fallback_reason": "latency"}
    }
    assert policy(previous_version=True).answers(records, [0], "latency", previous=broken) == {}


def test_low_confidence_and_enabled() -> None:
    p = policy(min_confidence=0.7, constant={"label": "No"})
    assert p.enabled
    assert p.low_confidence({"probabilities": {"No": 0.35, "Yes": 0.65}})
    assert not p.low_confidence({"probabilities": {"No": 0.25, "Yes": 0.75}})
    assert not p.low_confidence({"value": 3.0})  # regression: no confidence to check
    assert not policy(constant={"label": "No"}).low_confidence({"probabilities": {"a": 0.1}})
    assert not policy(min_confidence=0.9).enabled
    assert policy(latency_budget_ms=250).latency_budget_s == 0.25


@pytest.mark.parametrize(
    "section",
    [
        {"constant": {}},
        {"constant": {"label": "No", "value": 1.0}},
        {"rules": [{"when": "tenure < 3"}]},
        {"latency_budget_ms": 0},
        {"min_confidence": -0.1},
        {"rule": []},
    ],
    ids=["no-answer", "two-answers", "rule-without-answer", "zero-budget", "negative", "typo"],
)
def test_bad_fallback_sections_are_refused(section: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FallbackConfig.model_validate(section)


def test_serve_config_holds_one_challenger() -> None:
    cfg = ServeConfig.model_validate(
        {"canary": {"alias": "challenger", "traffic": 0.2}, "shadow": {"alias": "challenger"}}
    )
    assert cfg.challenger_alias == "challenger"
    assert ServeConfig().challenger_alias is None
    with pytest.raises(ValidationError, match="differ"):
        ServeConfig.model_validate({"canary": {"alias": "a"}, "shadow": {"alias": "b"}})
    with pytest.raises(ValidationError):
        ServeConfig.model_validate({"canary": {"alias": "a", "traffic": 1.5}})
