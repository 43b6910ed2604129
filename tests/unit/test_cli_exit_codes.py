"""The CLI's exit codes for usage errors (Typer ships its own copy of click)."""

from __future__ import annotations

import pytest

from conveyor.cli.main import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--bogus"], "No such option: --bogus"),
        (["monitor", "--version", "abc"], "Invalid value for '--version'"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_exit_2_and_say_why(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "internal error" not in err
