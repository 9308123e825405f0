"""`alb-rollouts sandbox` as a user runs it (a subprocess): ready in under 10 s with the state file and the
printed values, `kubectl get ns` answers through the kubeconfig, the control endpoint answers, bad flag values
are refused naming the flag, a port in use and a missing moto are reported, and SIGINT stops it cleanly
(exit 0, state file removed). Tests here run in file order: the last one stops the shared process."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

READY_WITHIN = 10.0


class Running:
    def __init__(self, process: subprocess.Popen[str], state_file: Path, ready_after: float) -> None:
        self.process = process
        self.state_file = state_file
        self.ready_after = ready_after
        self.state: dict[str, Any] = json.loads(state_file.read_text())


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", "sandbox", *args]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state_file = tmp_path_factory.mktemp("sandbox") / "x.json"
    started = time.monotonic()
    process = subprocess.Popen(_command("--state-file", str(state_file), "--pod-ready-seconds", "0"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = started + READY_WITHIN + 20  # generous here; the test asserts the 10 s budget
        while not state_file.exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no state file"
            time.sleep(0.05)
        yield Running(process, state_file, time.monotonic() - started)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_ready_in_under_ten_seconds_with_state_file_and_output(running: Running) -> None:
    assert running.ready_after < READY_WITHIN
    state = running.state
    assert list(state) == ["kubeconfig", "apiServer", "awsEndpointUrl", "awsRegion", "control"]
    assert state["awsRegion"] == "us-east-1"
    assert state["kubeconfig"] == str(running.state_file.with_name("x.kubeconfig"))
    assert state["apiServer"] in Path(state["kubeconfig"]).read_text()
    assert running.process.stdout is not None
    lines = [running.process.stdout.readline().rstrip("\n") for _ in range(6)]
    assert lines == ["sandbox ready", *(f"{key}: {value}" for key, value in state.items())]


def test_kubectl_get_ns_answers(running: Running) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed on this machine")
    result = subprocess.run([kubectl, "--kubeconfig", running.state["kubeconfig"], "get", "ns", "-o", "name"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "namespace/default" in result.stdout.split()


def test_control_endpoint_answers(running: Running) -> None:
    request = urllib.request.Request(f"{running.state['control']}/lbc", data=b'{"lagSeconds": 1.5}',
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {
            "lagSeconds": 1.5, "paused": False, "rejectActions": False, "targetRegistrationSeconds": 0.0,
            "targetInitialSeconds": 0.0, "deregistrationDelaySeconds": 0.0}


def test_bad_flag_is_refused() -> None:
    result = subprocess.run(_command("--lbc-lag-seconds", "-1"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "alb-rollouts sandbox: error: argument --lbc-lag-seconds: must be a number of seconds >= 0, got -1\n"
    )


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--pod-ready-seconds", "abc"],
                 "argument --pod-ready-seconds: must be a number of seconds >= 0, got abc",
                 id="not-a-number"),
    pytest.param(["--pod-ready-seconds", "nan"],
                 "argument --pod-ready-seconds: must be a number of seconds >= 0, got nan", id="nan"),
    pytest.param(["--lbc-lag-seconds", "inf"],
                 "argument --lbc-lag-seconds: must be a number of seconds >= 0, got inf", id="infinite"),
    pytest.param(["--port", "70000"], "argument --port: must be a port number from 0 to 65535, got 70000",
                 id="port-too-large"),
    pytest.param(["--port", "-1"], "argument --port: must be a port number from 0 to 65535, got -1",
                 id="negative-port"),
])
def test_bad_values_are_refused_by_name(args: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from sandbox import command

    parser = argparse.ArgumentParser(prog="alb-rollouts sandbox")
    command.configure(parser)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(args)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(f"alb-rollouts sandbox: error: {message}\n")


def test_port_in_use_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    from sandbox import command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        parser = argparse.ArgumentParser()
        command.configure(parser)
        assert command.run(parser.parse_args(["--port", str(port)])) == 1
    err = capsys.readouterr().err
    assert err.startswith("alb-rollouts sandbox: cannot start: ") and f"('127.0.0.1', {port})" in err, err


def test_missing_moto_is_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from sandbox import command

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "moto" else real(name, *rest))
    parser = argparse.ArgumentParser()
    command.configure(parser)
    assert command.run(parser.parse_args([])) == 1
    assert capsys.readouterr().err == "alb-rollouts sandbox needs moto's server: pip install 'moto[server]'\n"


def test_sigint_stops_cleanly(running: Running) -> None:
    running.process.send_signal(signal.SIGINT)
    out, err = running.process.communicate(timeout=30)
    assert running.process.returncode == 0, err
    assert out.splitlines()[-2:] == ["sandbox stopping", "sandbox stopped"]
    assert not running.state_file.exists()
    assert not Path(running.state["kubeconfig"]).exists()
