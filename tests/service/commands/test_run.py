"""`alb-rollouts run`, through service.cli with the run command registered.

Covers: --help lists every reference flag (and ours) with the reference defaults; the flags are parsed once
into Settings and handed to service.running.main, whose exit code is the command's; a bad value or a settings
rule (lease duration vs renew deadline) exits 2 naming the flag before anything starts; the process itself
(as a subprocess) stops cleanly with exit 0 on SIGTERM and 1 when it cannot load its kubeconfig.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service import cli, running, settings

REFERENCE_FLAGS = (
    "--aws-verify-target-group", "--alb-verify-weight", "--alb-ingress-classes", "--alb-tag-key-resource-id",
    "--aws-target-group-binding-api-version", "--instance-id", "--namespaced", "--leader-elect",
    "--leader-election-lease-duration", "--leader-election-renew-deadline", "--leader-election-retry-period",
    "--metricsPort", "--healthzPort", "--loglevel", "--logformat", "--rollout-threads", "--qps", "--burst",
    "--kubeconfig",
)
OURS = ("--aws-region", "--aws-endpoint-url", "--debug-address", "--aws-max-rps")


@pytest.fixture
def run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", {"run": ("service.commands.run", "run the controller")})


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["run", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("run_only")
def test_help_lists_the_reference_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "--help")
    assert code == 0
    assert out.startswith("usage: alb-rollouts run ")
    for flag in (*REFERENCE_FLAGS, *OURS):
        assert f"{flag} " in out or f"{flag}," in out, flag
    defaults = ("port of /metrics (default 8090)", "port of /healthz and /readyz (default 8080)",
                "Rollouts reconciled at once (default 10)", "(default 15s)", "(default 10s)", "(default 2s)")
    for default in defaults:
        assert default in " ".join(out.split()), default


@pytest.mark.usefixtures("run_only")
def test_flags_become_settings_for_running(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[settings.Settings] = []

    def fake_main(built: settings.Settings) -> int:
        seen.append(built)
        return 7

    monkeypatch.setattr(running, "main", fake_main)
    code, _, _ = _main(capsys, "--kubeconfig", "/k", "--aws-verify-target-group", "--aws-region",
                       "us-east-1", "--leader-elect=false", "--metricsPort", "0", "--healthzPort", "0",
                       "--rollout-threads", "3")
    assert code == 7
    (built,) = seen
    assert built.kube.kubeconfig == "/k"
    assert built.aws.verify_target_group and built.aws.client.region == "us-east-1"
    assert not built.leader.elect
    assert (built.http.metrics_port, built.http.healthz_port) == (0, 0)
    assert built.queueing.rollout_threads == 3


@pytest.mark.usefixtures("run_only")
@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(("--rollout-threads", "0",), "argument --rollout-threads: must be a whole number of workers "
                 "from 1, got 0", id="bad-value"),
    pytest.param(("--leader-election-lease-duration", "5s", "--leader-election-renew-deadline", "10s"),
                 "--leader-election-lease-duration (5s) must be longer than --leader-election-renew-deadline "
                 "(10s)", id="settings-rule"),
])
def test_bad_flags_exit_2_naming_the_flag(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                          argv: tuple[str, ...], message: str) -> None:
    monkeypatch.setattr(running, "main", lambda built: pytest.fail("started despite a bad flag"))
    code, out, err = _main(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"alb-rollouts run: error: {message}"


def _command(*argv: str) -> list[str]:
    # The module's own entry: service/cli.py registers `run` separately (the coordinator's file).
    return [sys.executable, "-m", "service.commands.run", "--metricsPort", "0", "--healthzPort", "0",
            "--debug-address", "", "--leader-elect=false", "--logformat", "json", *argv]


def test_process_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    # No API server answers this kubeconfig: the process starts its listeners, then waits for caches to sync.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: c, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: c}}]\n")
    env: dict[str, Any] = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(_command("--kubeconfig", str(kubeconfig)), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if '"msg": "listening"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + rest
    assert '"msg": "stopping", "signal": "SIGTERM"' in rest or '"signal": "SIGTERM"' in rest
    assert '"msg": "stopped"' in rest


def test_process_without_kubeconfig_exits_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = subprocess.run(_command("--kubeconfig", str(missing)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot load the Kubernetes configuration (--kubeconfig {missing})" in done.stdout
