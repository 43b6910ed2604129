"""The git commit of the project directory, recorded with each model version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["git_commit_of"]

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def git_commit_of(path: Path | str) -> str | None:
    """``git rev-parse HEAD`` of the repository containing ``path``, or None.

    Never raises: no git, not a repository, no commit yet, or a slow
    filesystem (2 s timeout) all give None.

    Example:
        >>> git_commit_of("/tmp/not-a-repo")  # doctest: +SKIP
    """
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and _SHA.fullmatch(sha) else None
