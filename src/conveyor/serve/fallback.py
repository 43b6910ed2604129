"""Fallback answers for when the served model fails, is too slow or is unsure.

Reasons: ``error`` (the model raised), ``latency`` (over
``serve.fallback.latency_budget_ms``) and ``low_confidence`` (top class
probability under ``serve.fallback.min_confidence``). For each record needing
one, sources are tried in order: the first matching rule of
``serve.fallback.rules``, the champion's previous version
(``serve.fallback.previous_version``), then ``serve.fallback.constant``. Rules
are parsed once, when the app is built, so a bad rule stops ``conveyor serve``
before it binds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    from conveyor.config.models import FallbackAnswer, FallbackConfig
    from conveyor.features.expressions import Expr

__all__ = ["REASONS", "FallbackPolicy", "PreviousPredict"]

log = logging.getLogger("conveyor.serve")

REASONS = ("error", "latency", "low_confidence")

#: Predicts records with the previous version: ``records -> (version number, outputs)``.
PreviousPredict = Callable[[list[Any]], tuple[int, list[dict[str, Any]]]]


@dataclass(frozen=True)
class _Rule:
    index: int
    expr: Expr
    answer: dict[str, Any]


def _answer(spec: FallbackAnswer) -> dict[str, Any]:
    return {"label": spec.label} if spec.label is not None else {"value": spec.value}


class FallbackPolicy:
    """The parsed ``serve.fallback`` section: when to fall back and what to answer.

    Args:
        config: the ``serve.fallback`` section.

    Raises:
        ConfigError: a rule's ``when`` does not parse; the message names
            ``serve.fallback.rules[i].when`` and points at the problem.

    Example:
        >>> from conveyor.config.models import FallbackConfig
        >>> policy = FallbackPolicy(FallbackConfig.model_validate(
        ...     {"rules": [{"when": "tenure < 6", "label": "Yes"}], "constant": {"label": "No"}}))
        >>> policy.static_answer({"tenure": 2})
        ({'label': 'Yes'}, 'rule[0]')
        >>> policy.static_answer({"tenure": 40})
        ({'label': 'No'}, 'constant')
    """

    def __init__(self, config: FallbackConfig) -> None:
        from conveyor.features.expressions import parse_expression

        self.config = config
        self.rules = [
            _Rule(
                i,
                parse_expression(rule.when, source=f"serve.fallback.rules[{i}].when"),
                _answer(rule),
            )
            for i, rule in enumerate(config.rules)
        ]
        self.constant = _answer(config.constant) if config.constant is not None else None
        self.previous_version = config.previous_version
        self.latency_budget_s = (
            config.latency_budget_ms / 1000.0 if config.latency_budget_ms is not None else None
        )
        self.min_confidence = config.min_confidence

    @property
    def enabled(self) -> bool:
        """True when some source of fallback answers is configured."""
        return bool(self.rules or self.constant is not None or self.previous_version)

    def low_confidence(self, output: Mapping[str, Any]) -> bool:
        """True when ``output``'s top class probability is under ``min_confidence``."""
        probabilities = output.get("probabilities")
        if self.min_confidence is None or not probabilities:
            return False
        return max(probabilities.values()) < self.min_confidence

    def static_answer(self, record: Any) -> tuple[dict[str, Any], str] | None:
        """The first matching rule's answer, else the constant, else None; with its source."""
        if isinstance(record, Mapping):
            for rule in self.rules:
                try:
                    matched = rule.expr.evaluate(record) is True
                except ConveyorError as exc:  # a value of the wrong type: this rule does not apply
                    log.debug("fallback rule %d skipped: %s", rule.index, exc)
                    matched = False
                if matched:
                    return dict(rule.answer), f"rule[{rule.index}]"
        if self.constant is not None:
            return dict(self.constant), "constant"
        return None

    def answers(
        self,
        records: Sequence[Any],
        indices: Sequence[int],
        reason: str,
        *,
        previous: PreviousPredict | None = None,
    ) -> dict[int, dict[str, Any]]:
        """Fallback outputs for ``records[i]``, ``i`` in ``indices`` (those no source answers are left out).

        Each output holds ``label`` or ``value`` (and ``probabilities`` when the
        previous version answered), ``fallback_reason``, ``fallback_source`` and,
        for the previous version, ``version``.
        """
        found: dict[int, dict[str, Any]] = {}
        waiting: list[int] = []
        for i in indices:
            static = self.static_answer(records[i]) if self.rules else None
            if static is not None and static[1] != "constant":
                found[i] = {**static[0], "fallback_source": static[1]}
            else:
                waiting.append(i)
        if waiting and self.previous_version and previous is not None:
            try:
                number, outputs = previous([records[i] for i in waiting])
            except Exception as exc:  # the previous version failing leaves the constant
                log.warning("fallback to the previous version failed: %s", exc)
            else:
                for i, out in zip(waiting, outputs, strict=True):
                    found[i] = {**out, "version": number, "fallback_source": "previous_version"}
                waiting = []
        if self.constant is not None:
            for i in waiting:
                found[i] = {**self.constant, "fallback_source": "constant"}
        for out in found.values():
            out["fallback_reason"] = reason
        return found
