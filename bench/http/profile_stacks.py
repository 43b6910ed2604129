"""Where a server's CPU goes per request: py-spy's raw (collapsed) stacks, summarised.

``py-spy record --format raw`` writes one line per distinct stack,
``frame;frame;...;frame COUNT`` (root first; a frame is ``function (file:line)``).
Recorded with ``--gil``, each sample is the thread holding the GIL.

Three views, all as a share of the samples and as CPU microseconds per
request (samples / rate / requests):

- **by part**: each sample goes to the innermost frame that belongs to a known
  part of the request path (a stdlib or C helper counts for its caller's part);
- **self**: the innermost Python function of each sample;
- **inclusive, conveyor code**: each ``conveyor`` function, counted once per sample it is on.

Usable on its own::

    python bench/http/profile_stacks.py bench/out/http/profile-conveyor-c8.txt --rate 200 --requests 9000
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# (part, frame patterns) in the order they are tried for each frame, innermost frame first.
# A pattern is a path fragment, or "path fragment::function name prefix".
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("onnxruntime InferenceSession.run", ("onnxruntime/",)),
    ("validation (bundle/_validate)", ("conveyor/bundle/_validate",)),
    ("derived features (features/)", ("conveyor/features/",)),
    ("feeds + output format (bundle runtime, _onnx_io)", ("conveyor/bundle/",)),
    ("prediction ids (uuid4)", ("/uuid.py",)),
    ("prediction log (rows, append, writer thread)", ("conveyor/stores/prediction_log", "conveyor/stores/_log_", "conveyor/serve/predicting.py::_log_rows", "polars/", "pyarrow/", "fsspec/")),
    ("prometheus metrics", ("prometheus_client/",)),
    ("micro-batching (serve/microbatch)", ("conveyor/serve/microbatch",)),
    ("conveyor handler (serve/, other)", ("conveyor/serve/",)),
    ("model holder / registry poll", ("conveyor/registry/", "conveyor/stores/", "sqlalchemy/")),
    ("fastapi + starlette (routing, Request, Response)", ("fastapi/", "starlette/")),
    ("thread pool hand-off (anyio, futures, threading)", ("anyio/", "concurrent/futures", "threading.py", "queue.py")),
    ("uvicorn HTTP protocol (httptools, socket writes)", ("uvicorn/",)),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop")),
]  # fmt: skip
OTHER = "other"

_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(lines: Iterable[str]) -> list[tuple[list[tuple[str, str]], int]]:
    """[(frames root first as (function, path), count)] from py-spy raw lines."""
    out = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = []
        for text in stack.split(";"):
            match = _FRAME.match(text)
            frames.append((match["func"], match["path"]) if match else (text, ""))
        out.append((frames, int(count)))
    return out


def _matches(pattern: str, func: str, path: str) -> bool:
    fragment, _, prefix = pattern.partition("::")
    return fragment in path and func.startswith(prefix)


def part_of(frames: list[tuple[str, str]]) -> str:
    """The part a sample belongs to: that of its innermost frame matching a pattern."""
    for func, path in reversed(frames):
        for part, patterns in PARTS:
            if any(_matches(p, func, path) for p in patterns):
                return part
    return OTHER


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise(stacks: list[tuple[list[tuple[str, str]], int]]) -> dict[str, Counter[str]]:
    parts: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        parts[part_of(frames)] += count
        if frames:
            func, path = frames[-1]
            self_time[f"{func} ({_short(path)})"] += count
        seen = {f"{func} ({_short(path)})" for func, path in frames if "conveyor/" in path}
        for name in seen:
            inclusive[name] += count
    return {"parts": parts, "self": self_time, "inclusive": inclusive}


def load(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    return parse(path.read_text(encoding="utf-8", errors="replace").splitlines())


def report(path: Path, *, rate: float, requests: int, top: int = 15) -> str:
    """The three tables for one profile, as text."""
    stacks = load(path)
    total = sum(c for _, c in stacks)
    if total == 0:
        return f"{path}: no samples"
    views = summarise(stacks)
    per_request = 1e6 / rate / max(requests, 1)
    lines = [
        f"{total} samples at {rate:g} Hz over {requests} requests "
        f"= {total * per_request:.0f} µs with the GIL per request"
    ]
    titles = {
        "parts": "by part of the request path",
        "self": "self time, innermost Python function",
        "inclusive": "inclusive, conveyor functions",
    }
    for key, title in titles.items():
        lines.append(f"\n{title:<72} {'share':>6} {'µs/req':>7}")
        for name, count in views[key].most_common(top):
            shown = name if len(name) <= 72 else "…" + name[-71:]
            lines.append(f"{shown:<72} {100 * count / total:>5.1f}% {count * per_request:>7.0f}")
    return "\n".join(lines)


def compare(profiles: dict[str, tuple[Path, float, int]]) -> str:
    """µs with the GIL per request by part, one column per profile (name -> (raw, rate, requests))."""
    columns = {}
    for name, (path, rate, requests) in profiles.items():
        parts = summarise(load(path))["parts"]
        scale = 1e6 / rate / max(requests, 1)
        columns[name] = {part: count * scale for part, count in parts.items()}
    order = [p for p, _ in PARTS] + [OTHER]
    names = list(columns)
    lines = [f"{'µs with the GIL per request, by part':<52}" + "".join(f"{n:>10}" for n in names)]
    for part in order:
        values = [columns[n].get(part, 0.0) for n in names]
        if any(v >= 0.5 for v in values):
            lines.append(f"{part:<52}" + "".join(f"{v:>10.0f}" for v in values))
    lines.append(f"{'total':<52}" + "".join(f"{sum(columns[n].values()):>10.0f}" for n in names))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--rate", type=float, required=True, help="py-spy --rate used")
    parser.add_argument("--requests", type=int, required=True, help="requests served meanwhile")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(report(args.raw, rate=args.rate, requests=args.requests, top=args.top))


if __name__ == "__main__":
    main()
