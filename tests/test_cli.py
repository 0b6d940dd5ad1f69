"""The CLI contract: exit 2 with a message (never a traceback) on bad usage or bad input."""

from __future__ import annotations

import pytest

from gridwall.app.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["nosuch"], "No such command"),
        (["identity", "login", "someone"], "--terminal-key"),
        (
            ["synth", "/nonexistent/x", "--supply-points", "0", "--days", "1", "--seed", "1"],
            "--supply-points",
        ),
    ],
)
def test_bad_usage_exits_2_with_a_message(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "policy" in capsys.readouterr().out


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for code in ("0 done", "1 a check failed", "2 bad input", "3 the store cannot be reached"):
        assert code in out
