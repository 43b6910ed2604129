"""How step outputs of each kind become bytes in the artifact store and back."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import StoreError

if TYPE_CHECKING:
    from conveyor.stores.artifacts import ArtifactStore

MEDIA_TYPES = {
    "dataset": "application/vnd.apache.parquet",
    "frame": "application/vnd.apache.parquet",
    "json": "application/json",
    "bytes": "application/octet-stream",
    "tree": "application/vnd.conveyor.tree+json",
}


def store_output(artifacts: ArtifactStore, kind: str, value: Any, *, name: str) -> tuple[str, int]:
    """Store one output; returns (digest, size in bytes)."""
    if kind in ("dataset", "frame"):
        import polars as pl

        if not isinstance(value, pl.DataFrame):
            raise StoreError(
                f"output '{name}' should be a polars DataFrame, got {type(value).__name__}"
            )
        buf = io.BytesIO()
        value.write_parquet(buf, compression="zstd", statistics=False)
        data = buf.getvalue()
        return artifacts.put_bytes(data), len(data)
    if kind == "json":
        import orjson

        data = orjson.dumps(
            value,
            option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        )
        return artifacts.put_bytes(data), len(data)
    if kind == "bytes":
        if not isinstance(value, (bytes, bytearray)):
            raise StoreError(f"output '{name}' should be bytes, got {type(value).__name__}")
        return artifacts.put_bytes(bytes(value)), len(value)
    if kind == "tree":
        path = Path(value)
        if not path.is_dir():
            raise StoreError(f"output '{name}' should be a directory, got {value!r}")
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return artifacts.put_tree(path), size
    raise StoreError(f"output '{name}': unknown output kind '{kind}'")


def load_output(
    artifacts: ArtifactStore, kind: str, digest: str, *, scratch: Path | None = None
) -> Any:
    """Load a stored output back into the value a step receives."""
    if kind in ("dataset", "frame"):
        import polars as pl

        return pl.read_parquet(io.BytesIO(artifacts.get_bytes(digest)))
    if kind == "json":
        import orjson

        return orjson.loads(artifacts.get_bytes(digest))
    if kind == "bytes":
        return artifacts.get_bytes(digest)
    if kind == "tree":
        dest = (
            Path(tempfile.mkdtemp(prefix="tree-", dir=scratch))
            if scratch
            else Path(tempfile.mkdtemp())
        )
        return artifacts.get_tree(digest, dest)
    raise StoreError(f"unknown output kind '{kind}'")
