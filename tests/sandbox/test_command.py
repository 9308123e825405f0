"""`alb-rollouts sandbox` as a user runs it (a subprocess): ready in under 10 s with the state file and the
printed values, the printed controller command runs as printed (its env assignments are all it needs: it
leads, turns ready and reports no start-up problem), `kubectl get ns` answers through the kubeconfig, the
control endpoint answers, bad flag values are refused naming the flag, a port in use and a missing moto are
reported, and SIGINT stops it cleanly (exit 0, state file removed). Tests here run in file order: the last one
stops the shared process."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import os
import shlex
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

import aiohttp
import pytest

from sandbox import command
from sandbox.running import SandboxState
from tests.sandbox.polling import until

READY_WITHIN = 10.0


class Running:
    def __init__(self, process: subprocess.Popen[str], state_file: Path, ready_after: float) -> None:
        self.process = process
        self.state_file = state_file
        self.ready_after = ready_after
        self.state: dict[str, Any] = json.loads(state_file.read_text())
        assert process.stdout is not None
        self.printed = [process.stdout.readline().rstrip("\n") for _ in range(7)]


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
    assert running.printed[:6] == ["sandbox ready", *(f"{key}: {value}" for key, value in state.items())]
    assert running.printed[6] == (
        "controller: AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing POD_NAMESPACE=default "
        f"alb-rollouts run --kubeconfig {shlex.quote(state['kubeconfig'])} --aws-verify-target-group "
        f"--aws-endpoint-url {state['awsEndpointUrl']} --aws-region us-east-1")
    made = SandboxState(kubeconfig=state["kubeconfig"], api_server=state["apiServer"],
                        aws_endpoint_url=state["awsEndpointUrl"], aws_region="us-east-1",
                        control=state["control"])
    assert running.printed[6] == f"controller: {command.controller_command(made)}"


async def test_the_printed_controller_command_runs_as_printed(running: Running, tmp_path: Path) -> None:
    words = shlex.split(running.printed[6].removeprefix("controller: "))
    assignments = list(itertools.takewhile(lambda word: "=" in word, words))
    program, verb, *args = words[len(assignments):]
    assert (program, verb) == ("alb-rollouts", "run")
    # Nothing but the printed line may supply credentials or the Lease namespace.
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AWS_") and key != "POD_NAMESPACE"}
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
               AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1")
    env.update(dict(word.split("=", 1) for word in assignments))
    # `python -m service.commands.run` is `alb-rollouts run`; free ports so parallel tests never collide.
    argv = [sys.executable, "-m", "service.commands.run", *args, "--metricsPort", "0", "--healthzPort", "0",
            "--debug-address", "", "--logformat", "json"]
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT, env=env)
    lines: list[dict[str, Any]] = []

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"msg": raw.decode()})

    def logged(msg: str) -> list[dict[str, Any]]:
        return [line for line in lines if line.get("msg") == msg]

    reader = asyncio.create_task(read())
    try:
        listening = await until(lambda: logged("listening"), within=30, what="the listening line")
        await until(lambda: logged("controller started"), within=30, what="leading and started")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

            async def ready() -> bool:
                async with http.get(f"http://127.0.0.1:{listening[0]['healthz_port']}/readyz") as reply:
                    return reply.status == 200

            await until(ready, within=30, what="/readyz 200")
        assert logged("start-up problem") == [], lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        await reader
    assert code == 0, lines


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
