"""``conveyor build``: a deployable directory for one registered model version.

The directory holds everything a container needs and nothing else:

- ``Dockerfile``: ``python:3.11-slim``, a non-root user, a ``/health`` check
  (``python -c`` with urllib: the slim image has no curl), ``conveyor serve``
  on ``0.0.0.0:8000`` (which needs ``CONVEYOR_API_KEYS``).
- ``requirements.txt``: the exact versions installed here of what serving
  imports (Conveyor's own dependencies, the ``serve`` extra, and the model's
  estimator libraries), complete, so ``pip install --no-deps`` works.
- ``wheels/``: Conveyor itself, built with ``pip wheel --no-deps`` from the
  installed source.
- ``model/``: a self-contained project (a minimal ``conveyor.yaml`` and a
  ``.conveyor`` store) in which this version, with the same digests, is the
  only one registered, as ``champion``.
- ``README.md``: how to build and run the image, its environment, its endpoints.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import ConfigError, ConveyorError

if TYPE_CHECKING:
    from conveyor.project import Project
    from conveyor.registry import ModelVersion

__all__ = ["BuildResult", "build_deployment", "pinned_requirements"]

PORT = 8000
BASE_IMAGE = "python:3.11-slim"
MODEL_DIR = "model"
WHEELS_DIR = "wheels"
# What ``build`` writes: with --force only these are replaced, nothing else is touched.
_OUTPUTS = ("Dockerfile", ".dockerignore", "requirements.txt", "README.md", WHEELS_DIR, MODEL_DIR)


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_deployment` wrote.

    Attributes:
        output: the deployment directory.
        model_name: the served model's registry name.
        source_version: its version number in the source project.
        manifest_digest: the bundle's manifest digest (unchanged by the copy).
        bundle_digest: the bundle's tree digest (unchanged by the copy).
        requirements: the pinned ``name==version`` lines.
        wheel: the Conveyor wheel, relative to ``output``.
        missing: requirements that apply here but are not installed (not pinned).
    """

    output: Path
    model_name: str
    source_version: int
    manifest_digest: str
    bundle_digest: str
    requirements: list[str]
    wheel: str
    missing: list[str] = field(default_factory=list)


def build_deployment(
    project: Project, ref: str, output: Path | str, *, force: bool = False
) -> BuildResult:
    """Write a deployable directory serving ``ref`` (e.g. ``churn@champion``) of ``project``.

    Args:
        project: the source project (its registry and artifact store).
        ref: model reference: ``name@alias``, ``name:3`` or ``name``.
        output: the directory to write; created when absent.
        force: replace a previous build's files in a non-empty ``output``.

    Raises:
        ConfigError: ``output`` is a file, or is not empty and ``force`` is false.
        NotFound: ``ref`` does not resolve.
        ModelError: the bundle fails verification.
        ConveyorError: the Conveyor wheel cannot be built.
    """
    from conveyor.registry import fetch_bundle

    out = Path(output).resolve()
    version = project.registry.resolve(ref)  # NotFound (naming what exists) before any write
    _prepare_output(out, force=force)
    with tempfile.TemporaryDirectory(prefix="conveyor-build-") as tmp:
        # Verified against the registry's manifest digest before anything ships.
        loaded = fetch_bundle(project.artifacts, version, Path(tmp) / "bundle", onnx=False)
        manifest = loaded.manifest
        _write_model_project(project, version, loaded.path, out / MODEL_DIR)
    extra = _estimator_libraries(manifest.trusted_types)
    if manifest.onnx.present:
        extra.append("onnxruntime")
    pins, missing = pinned_requirements(extra=extra)
    wheel = _build_wheel(out / WHEELS_DIR)
    lines = [
        "# Pinned from the environment that ran `conveyor build`; complete, so",
        "# `pip install --no-deps -r requirements.txt` works (run it from this directory).",
        *pins,
        f"./{wheel}",
    ]
    if missing:
        lines.insert(
            2, "# not installed where this was built (add if needed): " + ", ".join(missing)
        )
    (out / "requirements.txt").write_text("\n".join(lines) + "\n")
    (out / "Dockerfile").write_text(_dockerfile())
    (out / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
    (out / "README.md").write_text(_readme(version, ref))
    return BuildResult(
        output=out,
        model_name=version.model_name,
        source_version=version.version,
        manifest_digest=version.manifest_digest,
        bundle_digest=version.bundle_digest,
        requirements=pins,
        wheel=wheel,
        missing=missing,
    )


def _prepare_output(out: Path, *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"build output {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ConfigError(
                f"build output {out} is not empty",
                hint="choose an empty or new directory, or pass --force to replace a previous build",
            )
        for name in _OUTPUTS:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------- the model project


def _write_model_project(project: Project, version: ModelVersion, bundle: Path, dest: Path) -> None:
    """A project whose only registered version is ``version`` (as champion), same digests."""
    from conveyor.bundle import manifest_digest
    from conveyor.registry import Registry
    from conveyor.stores import MetadataStore
    from conveyor.stores.artifacts import ArtifactStore

    dest.mkdir(parents=True)
    (dest / "conveyor.yaml").write_text(_model_config(project, version))
    artifacts = ArtifactStore.from_url(str(dest / ".conveyor" / "artifacts"), root=dest)
    tree = artifacts.put_tree(bundle)
    # Content-addressed: the same files give the same digests, or the copy is wrong.
    if tree != version.bundle_digest or manifest_digest(bundle) != version.manifest_digest:
        raise ConveyorError(
            f"copied bundle of {version.model_name} v{version.version} has digest {tree},"
            f" expected {version.bundle_digest}"
        )
    store = MetadataStore(f"sqlite:///{(dest / '.conveyor' / 'conveyor.db').as_posix()}")
    try:
        Registry(store).register(
            version.model_name,
            bundle_digest=tree,
            manifest_digest=version.manifest_digest,
            run_id=version.run_id,
            dataset_version=version.dataset_version,
            config_fingerprint=version.config_fingerprint,
            metrics=version.metrics,
            gates=version.gates,
            status="champion",
            git_commit=version.git_commit,
            description=f"built from {project.root} v{version.version}",
            reason=f"conveyor build of {version.model_name} v{version.version}",
            actor="build",
        )
    finally:
        store.close()


def _model_config(project: Project, version: ModelVersion) -> str:
    """A minimal config: what serving reads, and no source paths or secrets of the original."""
    import yaml

    cfg = project.config
    serve = cfg.serve.model_dump(mode="json", exclude={"model", "host", "port"})
    data = {
        "version": 1,
        "project": cfg.project,
        "task": cfg.task,
        "target": cfg.target,
        "id_column": cfg.id_column,
        "positive_class": cfg.positive_class,
        # Required by the schema; serving never reads training data.
        "data": {"sources": [{"path": "data/training-data-not-shipped.csv"}]},
        "promotion": {"model_name": version.model_name, "alias": "champion"},
        # Explicit, so CONVEYOR_DB_URL in the container cannot point serving elsewhere.
        "stores": {
            "metadata": "sqlite:///.conveyor/conveyor.db",
            "artifacts": ".conveyor/artifacts",
        },
        "serve": {"model": f"{version.model_name}@champion", **serve},
    }
    header = (
        f"# Written by `conveyor build`: serves {version.model_name} v{version.version}"
        f" (manifest {version.manifest_digest[:12]}) of project {cfg.project!r}.\n"
    )
    return header + yaml.safe_dump(
        {k: v for k, v in data.items() if v is not None}, sort_keys=False
    )


# ---------------------------------------------------------------- requirements and wheel


def _estimator_libraries(trusted_types: list[str]) -> list[str]:
    """Distributions of the boosting libraries the estimator's types come from (e.g. xgboost-cpu)."""
    roots = {t.split(".", 1)[0] for t in trusted_types} & {"lightgbm", "xgboost", "catboost"}
    if not roots:
        return []
    providers = importlib.metadata.packages_distributions()
    return sorted({dist for module in roots for dist in providers.get(module, [module])})


def pinned_requirements(*, extra: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """``name==version`` of everything serving needs, read from this environment.

    The roots are Conveyor's own dependencies, its ``serve`` extra and ``extra``;
    the closure follows each installed distribution's requirements (markers
    evaluated here). Returns ``(pins, missing)``: ``missing`` are requirements
    that apply but are not installed.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo: list[tuple[str, frozenset[str]]] = [("conveyor", frozenset({"serve"}))]
    todo += [(name, frozenset()) for name in extra]
    seen: dict[str, set[str]] = {}
    pins: dict[str, str] = {}
    missing: set[str] = set()
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        done = seen.get(key)
        if done is not None and extras <= done:
            continue
        seen.setdefault(key, set()).update(extras)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.add(key)
            continue
        if key != "conveyor":
            pins[key] = f"{key}=={dist.version}"
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in ("", *extras)
            ):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return sorted(pins.values()), sorted(missing - set(pins))


def _source_dir() -> Path:
    """The installed Conveyor's source tree (the directory holding ``pyproject.toml``)."""
    try:
        direct = importlib.metadata.distribution("conveyor").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        direct = None
    candidates = []
    if direct:
        url = json.loads(direct).get("url", "")
        if url.startswith("file://"):
            candidates.append(Path(url[len("file://") :]))
    import conveyor

    candidates.append(Path(conveyor.__file__).resolve().parents[2])
    for path in candidates:
        if (path / "pyproject.toml").is_file() and (path / "src" / "conveyor").is_dir():
            return path
    raise ConveyorError(
        "cannot find Conveyor's source tree (pyproject.toml and src/conveyor) to build its wheel",
        hint="install Conveyor from a source checkout (pip install -e .)",
    )


def _build_wheel(dest: Path) -> str:
    """``pip wheel --no-deps`` of a clean copy of the source (the checkout is not touched)."""
    src = _source_dir()
    with tempfile.TemporaryDirectory(prefix="conveyor-wheel-") as tmp:
        copy = Path(tmp) / "src"
        copy.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (src / name).is_file():
                shutil.copy2(src / name, copy / name)
        shutil.copytree(
            src / "src" / "conveyor",
            copy / "src" / "conveyor",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest)]
        proc = subprocess.run([*command, str(copy)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ConveyorError(
                f"building the Conveyor wheel failed (pip exit {proc.returncode}):\n"
                + proc.stderr.strip()[-2000:]
            )
    wheels = sorted(dest.glob("conveyor-*.whl"))
    if not wheels:
        raise ConveyorError(f"pip wheel wrote no conveyor wheel in {dest}")
    return f"{WHEELS_DIR}/{wheels[-1].name}"


# ---------------------------------------------------------------- Dockerfile and README

_HEALTHCHECK = (
    "import sys, urllib.request; "
    f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=3).status == 200 else 1)"
)


def _dockerfile() -> str:
    return f"""\
# Written by `conveyor build`. Build: docker build -t conveyor-model .
FROM {BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin conveyor

WORKDIR /app
COPY requirements.txt ./
COPY {WHEELS_DIR}/ ./{WHEELS_DIR}/
# The pinned list is complete: no resolver surprises at build time.
RUN pip install --no-deps -r requirements.txt && rm -rf ./{WHEELS_DIR}

# The model project is writable by the service user (prediction log, feedback).
COPY --chown=conveyor:conveyor {MODEL_DIR}/ ./{MODEL_DIR}/
USER conveyor
WORKDIR /app/{MODEL_DIR}

EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD ["python", "-c", "{_HEALTHCHECK}"]

# A non-loopback address needs API keys: run with -e CONVEYOR_API_KEYS=...
CMD ["conveyor", "serve", "--host", "0.0.0.0", "--port", "{PORT}"]
"""


def _readme(version: ModelVersion, ref: str) -> str:
    name = version.model_name
    return f"""\
# {name} v{version.version}: deployment

Written by `conveyor build --model {ref}`.

- model: `{name}` version {version.version} of the source project, registered here as
  `{name}@champion` (the only version in `{MODEL_DIR}/.conveyor`)
- manifest digest: `{version.manifest_digest}`
- bundle digest: `{version.bundle_digest}`

## Build and run the image

```sh
docker build -t {name}-model .
docker run --rm -p {PORT}:{PORT} \\
  -e CONVEYOR_API_KEYS='client:<secret>:predict+feedback' \\
  {name}-model
```

The server binds `0.0.0.0:{PORT}`; Conveyor refuses a non-loopback address without API
keys, so `CONVEYOR_API_KEYS` is required. Clients send `Authorization: Bearer <key>`
(or `X-API-Key: <key>`).

## Run without Docker

```sh
python -m venv .venv
.venv/bin/pip install --no-deps -r requirements.txt   # from this directory
cd {MODEL_DIR} && ../.venv/bin/conveyor serve --port {PORT}   # loopback: keys optional
```

## Environment

| variable | meaning |
| --- | --- |
| `CONVEYOR_API_KEYS` | API keys, `name:key:scope1+scope2`, comma-separated (scopes `predict`, `feedback`, ...); required in the image |

The model project's `conveyor.yaml` names its own stores, so `CONVEYOR_DB_URL` is not used.
Serving options (batch and body limits, strictness, prediction log) are in its `serve:`
section, copied from the source project.

## Endpoints

| method | path | |
| --- | --- | --- |
| POST | `/v1/predict` | one record object or a list of records; 422 lists every bad field |
| POST | `/v1/feedback` | `{{"prediction_id": ..., "actual": ...}}` |
| GET | `/v1/models` | what is served |
| GET | `/health` | alive (the image's HEALTHCHECK) |
| GET | `/ready` | 200 once the verified model is loaded, else 503 |
| GET | `/metrics` | Prometheus metrics |
| GET | `/openapi.json`, `/docs` | the API schema, with this model's input fields |
"""
