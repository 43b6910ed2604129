"""``conveyor build``: the deployable directory, its model project, and serving from it."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.errors import ConfigError, NotFound
from conveyor.testing.churn import CHURN_RECORD as RECORD


@pytest.fixture(scope="module")
def built(registered_churn_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One build of ``churn:2`` (not the champion: the copy must be promoted to champion)."""
    import conveyor
    from conveyor.serve.build import build_deployment

    out = tmp_path_factory.mktemp("build") / "deploy"
    with conveyor.Project(registered_churn_project) as project:
        source = project.registry.resolve("churn:2")
        result = build_deployment(project, "churn:2", out)
    return result, source


def test_build_writes_dockerfile_readme_and_pinned_requirements(built: Any) -> None:
    result, _ = built
    out: Path = result.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "model",
        "requirements.txt",
        "wheels",
    ]
    docker = (out / "Dockerfile").read_text()
    assert docker.startswith("# Written by `conveyor build`")
    assert "FROM python:3.11-slim" in docker
    assert "USER conveyor" in docker and "useradd" in docker
    assert "EXPOSE 8000" in docker
    health = next(line for line in docker.splitlines() if "/health" in line)
    assert "urllib.request" in health and "curl" not in docker
    assert docker.rstrip().endswith(
        'CMD ["conveyor", "serve", "--host", "0.0.0.0", "--port", "8000"]'
    )
    assert "CONVEYOR_API_KEYS" in docker
    readme = (out / "README.md").read_text()
    for needed in ("CONVEYOR_API_KEYS", "docker build", "docker run", "/v1/predict", "/ready"):
        assert needed in readme
    assert result.manifest_digest in readme

    lines = [
        line
        for line in (out / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[-1] == f"./{result.wheel}" and (out / result.wheel).is_file()
    pins = dict(line.split("==") for line in lines[:-1])
    # Exactly what is installed here, for everything serving imports.
    for name in ("fastapi", "uvicorn", "scikit-learn", "skops", "numpy", "pydantic", "starlette"):
        assert pins[name] == importlib.metadata.version(name), name
    assert "pytest" not in pins and "schemathesis" not in pins and "conveyor" not in pins
    assert result.missing == []


def test_model_project_holds_only_that_version_as_champion(built: Any) -> None:
    import conveyor

    result, source = built
    with conveyor.Project(result.output / "model", env={}) as copy:
        versions = copy.registry.list_versions("churn")
        assert len(versions) == 1
        champion = copy.registry.resolve("churn@champion")
        assert champion.bundle_digest == source.bundle_digest
        assert champion.manifest_digest == source.manifest_digest
        assert champion.run_id == source.run_id
        assert copy.config.serve.model == "churn@champion"
        # Stores are named in the config: CONVEYOR_DB_URL must not redirect serving.
        assert copy.metadata_url.endswith("/model/.conveyor/conveyor.db")
    text = (result.output / "model" / "conveyor.yaml").read_text()
    assert str(result.output.parent) not in text.split("\n", 1)[1]  # no source paths shipped


def test_served_from_the_build_directory(built: Any, start_server: Any) -> None:
    result, _ = built
    server = start_server(result.output / "model")
    answer = httpx.post(server.url + "/v1/predict", json=RECORD, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "churn" and answer.json()["version"] == 1


def test_refuses_a_non_empty_directory_unless_forced(
    registered_churn_project: Path, tmp_path: Path
) -> None:
    import conveyor
    from conveyor.serve.build import build_deployment

    out = tmp_path / "deploy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with conveyor.Project(registered_churn_project) as project:
        with pytest.raises(ConfigError, match="not empty") as info:
            build_deployment(project, "churn@champion", out)
        assert "--force" in (info.value.hint or "")
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
        build_deployment(project, "churn@champion", out, force=True)
        # Again over its own output: replaced, not registered twice; other files kept.
        build_deployment(project, "churn@champion", out, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    with conveyor.Project(out / "model", env={}) as copy:
        assert [v.version for v in copy.registry.list_versions("churn")] == [1]
    (tmp_path / "file").write_text("x")
    with (
        conveyor.Project(registered_churn_project) as project,
        pytest.raises(ConfigError, match="is a file"),
    ):
        build_deployment(project, "churn@champion", tmp_path / "file")


def test_unknown_model_fails_before_writing(registered_churn_project: Path, tmp_path: Path) -> None:
    import conveyor
    from conveyor.serve.build import build_deployment

    with conveyor.Project(registered_churn_project) as project, pytest.raises(NotFound):
        build_deployment(project, "churn@nosuchalias", tmp_path / "deploy")
    assert not (tmp_path / "deploy").exists()


def test_cli_build(registered_churn_project: Path, tmp_path: Path) -> None:
    from conveyor.cli.main import main

    out = tmp_path / "deploy"
    (out).mkdir()
    (out / "x").write_text("x")
    argv = ["build", "--model", "churn@champion", "--output", str(out)]
    argv += ["-C", str(registered_churn_project)]
    assert main(argv) == 2  # not empty
    assert main([*argv, "--force"]) == 0
    assert (out / "Dockerfile").is_file() and (out / "model" / "conveyor.yaml").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_requirements_install_into_a_fresh_venv_and_serve(built: Any, tmp_path: Path) -> None:
    result, _ = built
    out: Path = result.output
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The venv has no pip of its own: the outer pip installs into it (same interpreter version).
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    install += ["--no-deps", "--no-compile", "-r", "requirements.txt"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONVEYOR_API_KEYS")}
    proc = subprocess.run(install, cwd=out, env=env, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Complete: every installed distribution's requirements are met.
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    port = _free_port()
    log = tmp_path / "server.log"
    command = [str(venv / "bin" / "conveyor"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            command, cwd=out / "model", env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("server from the venv did not become ready:\n" + log.read_text())
        answer = httpx.post(url + "/v1/predict", json=RECORD, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "churn"
        # The served code is the installed wheel, not the checkout.
        where = subprocess.run(
            [str(python), "-c", "import conveyor; print(conveyor.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert str(venv) in where.stdout
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
