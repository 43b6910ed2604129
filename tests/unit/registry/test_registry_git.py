from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conveyor.registry import git_commit_of


def test_not_a_repository_gives_none(tmp_path: Path) -> None:
    assert git_commit_of(tmp_path) is None


def test_missing_directory_gives_none(tmp_path: Path) -> None:
    assert git_commit_of(tmp_path / "nope") is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_commit_of_a_repository(tmp_path: Path) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
    }  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
        )

    run("init", "-q")
    assert git_commit_of(tmp_path) is None  # no commit yet
    (tmp_path / "f.txt").write_text("x")
    run("add", "f.txt")
    run("commit", "-q", "-m", "one")
    head = run("rev-parse", "HEAD").stdout.strip()
    assert git_commit_of(tmp_path) == head
    (tmp_path / "sub").mkdir()
    assert git_commit_of(tmp_path / "sub") == head


def test_git_missing_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert git_commit_of(tmp_path) is None
