"""Tiny HTML building blocks for the report (standard library only, everything escaped)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

CSS = """
:root { --ink:#1d2430; --muted:#5c6676; --line:#dde2ea; --ok:#1f7a3e; --bad:#b3261e;
        --warn:#8a5a00; --hi:#eef6ee; --bg:#f7f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--ink);
       background:var(--bg); }
header { background:#243447; color:#fff; padding:18px 28px; }
header h1 { margin:0; font-size:22px; }
header p { margin:4px 0 0; color:#c9d3e0; }
nav { padding:8px 28px; background:#fff; border-bottom:1px solid var(--line); }
nav a { margin-right:14px; color:#2f5d8a; text-decoration:none; }
main { padding:8px 28px 40px; max-width:1400px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px;
          margin:16px 0; }
h2 { margin:0 0 8px; font-size:18px; }
h3 { margin:18px 0 6px; font-size:15px; }
table { border-collapse:collapse; margin:6px 0; font-variant-numeric:tabular-nums; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left;
         vertical-align:top; }
th { background:#f0f2f6; font-weight:600; }
td.num { text-align:right; }
tr.winner td { background:var(--hi); font-weight:600; }
tr.primary td { font-weight:600; }
.pass { color:var(--ok); font-weight:600; }
.fail { color:var(--bad); font-weight:600; }
.better { color:var(--ok); }
.worse { color:var(--bad); }
.muted { color:var(--muted); }
ul.warnings li { color:var(--warn); }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:12px; }
.plot { min-height:200px; }
details summary { cursor:pointer; color:var(--muted); }
"""


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A cell's text: 4 significant digits for floats, an em dash for nothing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list):
        return esc(json.dumps(value, sort_keys=True, default=str))
    return esc(value)


def cell(value: Any, *, cls: str = "") -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    classes = " ".join(c for c in (cls, "num" if numeric else "") if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{fmt(value)}</td>"


def raw_cell(html_text: str, *, cls: str = "") -> str:
    """A cell whose content is already safe HTML (built here from escaped parts)."""
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{html_text}</td>"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, row_classes: Sequence[str] = ()
) -> str:
    """``rows`` hold ready-made ``<td>`` strings (from :func:`cell` / :func:`raw_cell`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(row)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bullet_list(items: Iterable[str], *, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    inner = "".join(f"<li>{esc(item)}</li>" for item in items)
    return f"<ul{attr}>{inner}</ul>" if inner else ""


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def muted(text: str) -> str:
    return f'<p class="muted">{esc(text)}</p>'


# Plotly sizes a figure when its script runs, before a grid has its final width.
_RESIZE = (
    "<script>window.addEventListener('load',function(){document.querySelectorAll("
    "'.js-plotly-plot').forEach(function(d){Plotly.Plots.resize(d);});});</script>"
)


def page(title: str, subtitle: str, body: str, *, nav: str = "", plots: bool = False) -> str:
    """A whole offline report page: CSS inline, and Plotly's bundled JavaScript when ``plots``.

    ``title`` and ``subtitle`` are escaped; ``nav`` and ``body`` are HTML
    already built from escaped parts.

    Example:
        >>> page("Drift", "jan vs feb", "<p>ok</p>").startswith("<!DOCTYPE html>")
        True
    """
    script = resize = ""
    if plots:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        resize = _RESIZE
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style>{script}</head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        + (f"<nav>{nav}</nav>" if nav else "")
        + f"<main>{body}</main>{resize}</body></html>\n"
    )
