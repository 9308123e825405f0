"""The `alb-rollouts` entry point: a subcommand whose module is not installed (the image ships the controller
only, without `sandbox/`) exits 2 with a message saying so, instead of a traceback."""

from __future__ import annotations

import pytest

from service import cli


def test_a_command_missing_from_the_install_says_so(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.COMMANDS, "sandbox", ("sandbox_not_installed_here", "the sandbox"))
    with pytest.raises(SystemExit) as exited:
        cli.main(["sandbox"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "alb-rollouts sandbox: not in this install (sandbox_not_installed_here is missing); it comes with a "
        "source checkout (`make demo`)\n")
