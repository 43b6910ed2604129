"""The machine-readable evaluation report: plain JSON types, no NaN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conveyor.evaluate._common import redact_run_info, to_jsonable
from conveyor.evaluate.evaluation import Evaluation

__all__ = ["REPORT_FORMAT_VERSION", "render_json_report"]

REPORT_FORMAT_VERSION = 1


def render_json_report(
    evaluations: Sequence[Evaluation],
    *,
    title: str,
    leaderboard: list[dict[str, Any]],
    run_info: dict[str, Any],
    tuning: dict[str, list[dict[str, Any]]] | None = None,
    curves: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, Any]:
    """The report as a dict that ``json.dumps(..., allow_nan=False)`` accepts.

    Takes the same inputs as :func:`~conveyor.evaluate.report_html.render_html_report`.
    numpy scalars and arrays become Python numbers and lists; NaN and
    infinities become ``None``; secret-looking ``run_info`` keys are masked.
    ``models`` holds :meth:`Evaluation.to_dict` of each model, in order.

    Example:
        >>> report = render_json_report([], title="t", leaderboard=[], run_info={})
        >>> report["format_version"], report["models"]
        (1, [])
    """
    flagged = [row for row in leaderboard if row.get("winner")]
    winner_row = flagged[0] if flagged else (leaderboard[0] if leaderboard else None)
    return to_jsonable(
        {
            "format_version": REPORT_FORMAT_VERSION,
            "kind": "conveyor.evaluation_report",
            "title": title,
            "run_info": redact_run_info(run_info),
            "leaderboard": leaderboard,
            "winner": winner_row,
            "models": [ev.to_dict() for ev in evaluations],
            "tuning": tuning or {},
            "curves": curves or {},
        }
    )
