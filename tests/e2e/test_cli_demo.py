"""``conveyor demo``: the whole closed loop, as a user runs it after `make run`."""

from __future__ import annotations

import re
import time
from pathlib import Path


def test_demo_runs_the_closed_loop_in_under_three_minutes(cli, tmp_path: Path) -> None:
    workdir = tmp_path / "demo" / "churn"
    started = time.monotonic()
    proc = cli("demo", "--dir", str(workdir), cwd=tmp_path, timeout=300)
    elapsed = time.monotonic() - started
    out = proc.stdout
    assert elapsed < 180, f"the demo took {elapsed:.0f}s"
    for stage in ("1. A churn project", "2. Serving churn v1", "3. Replayed", "4. Then", "7. "):
        assert stage in out, out
    # the drift is noticed, the model retrained and canaried, then promoted or rolled back
    assert "trigger 'input_drift' fired (retrain)" in out, out
    assert "decision: retrain (v1 -> v2)" in out and "decision: canary_start" in out, out
    assert re.search(r"decision: (promote|rollback|reject) ", out), out
    assert re.search(r"\d+ requests in all .*; 0 failed", out), out
    monitor = re.search(r"monitor\s+(\S+\.html)", out)
    assert monitor and Path(monitor.group(1)).is_file(), out
    assert "Plotly" in Path(monitor.group(1)).read_text()
    assert (workdir / ".conveyor" / "alerts.jsonl").read_text().strip()
    history = cli("-C", str(workdir), "history", "churn", cwd=tmp_path).stdout
    assert "canary_start" in history and "retrain" in history, history
