"""Start-up says what it waits for (issue 12): the controller against the sandbox API server over the wire.

Aspects: `alb-rollouts run` (a real process, the README's flags) whose Lease namespace does not exist logs one
ERROR line naming it and what to do within seconds, /readyz answers 503 with the same sentence, and once the
namespace is created it leads, logs the problem resolved and turns ready; in-process (service.running.run):
RBAC's 403 on the Lease and on the Rollouts' LIST, and a missing Rollout CRD (404), each give one ERROR line
and a /readyz reason saying what to grant or install (the 403s, once lifted, let it lead and sync); with
--aws-verify-target-group and no AWS credentials anywhere botocore looks (no AWS_* variables, empty config
and credentials files, instance metadata disabled) an ERROR line and a /readyz reason on how to provide them,
and none with credentials; `Problems` logs a cause again only when it changes or after the slow interval.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from sandbox.apiserver import kubeconfig as kubeconfigs
from sandbox.apiserver.server import ApiServer
from service import settings, startup_checks
from service.aws import elbv2
from service.clock import FakeClock
from service.http import health
from tests.sandbox.polling import until
from tests.service.test_running import Factory, Process, make_settings, rollout

ROLLOUTS = "rollouts.argoproj.io"
LEASES = "leases.coordination.k8s.io"
LEASE = "alb-rollouts-test-lock"
FAST_LEASE = settings.LeaderSettings(lease_duration_seconds=1.5, renew_deadline_seconds=1.0,
                                     retry_period_seconds=0.1, namespace="shop", lease_name=LEASE)
FOREVER = 10**6
READY = "[+]informers-synced ok\nreadyz check passed\n"
Logs = list[MutableMapping[str, Any]]


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture
def kubeconfig(api_server: ApiServer, tmp_path: Path) -> Path:
    api_server.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "shop"}})
    return kubeconfigs.write_kubeconfig(tmp_path / "kubeconfig", api_server.url, namespace="shop")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def logs() -> Iterator[Logs]:
    with structlog.testing.capture_logs() as captured:
        yield captured


async def readyz(http: aiohttp.ClientSession, port: int) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
        return response.status, await response.text()


def problems(logs: Logs, check: str) -> Logs:
    return [line for line in logs if line["event"] == "start-up problem" and line.get("check") == check]


async def test_a_403_on_the_lease_is_named_then_lifted(api_server: ApiServer, kubeconfig: Path,
                                                       http: aiohttp.ClientSession,
                                                       logs: Logs) -> None:
    api_server.faults.fail_next("get", "leases", count=FOREVER, code=403)
    process = Process(make_settings(kubeconfig, leader=FAST_LEASE), Factory())
    ports = await process.listening()
    line = await until(lambda: problems(logs, "leader-election"), within=10, what="the ERROR line")
    assert line[0]["log_level"] == "error"
    assert line[0]["namespace"] == "shop" and line[0]["lease"] == LEASE
    reason = line[0]["reason"]
    assert reason.startswith(f"RBAC forbids get on the Lease shop/{LEASE} (403 Forbidden")
    assert "grant the controller's service account get, create and update on leases.coordination.k8s.io" \
        in reason
    status, body = await readyz(http, ports.healthz_port)
    assert status == 503 and f"[-]leader-election failed: {reason}\n" in body
    tries = sum(1 for r in api_server.faults.request_log if r.resource == LEASES and r.status == 403)
    await until(lambda: sum(1 for r in api_server.faults.request_log
                            if r.resource == LEASES and r.status == 403) >= tries + 3,
                within=10, what="more refused tries")
    assert len(problems(logs, "leader-election")) == 1  # said once, not at every try
    api_server.faults.clear()
    await until(lambda: process.factory.made, within=10, what="leading once RBAC allows it")
    assert any(line["event"] == "start-up problem resolved" and line["check"] == "leader-election"
               for line in logs)

    async def ready() -> bool:
        return await readyz(http, ports.healthz_port) == (200, READY)

    await until(ready, within=10, what="/readyz 200 with the leader-election check gone")
    await process.finish()


async def test_a_403_on_the_rollouts_list_is_named_then_lifted(api_server: ApiServer, kubeconfig: Path,
                                                               http: aiohttp.ClientSession,
                                                               logs: Logs) -> None:
    api_server.storage.create(ROLLOUTS, rollout("web"))
    api_server.faults.fail_next("list", "rollouts", count=FOREVER, code=403)
    process = Process(make_settings(kubeconfig), Factory())
    ports = await process.listening()
    line = await until(lambda: problems(logs, "caches"), within=10, what="the ERROR line")
    assert line[0]["log_level"] == "error"
    reason = line[0]["reason"]
    assert reason == ("rollouts.argoproj.io not synced: 403 Forbidden (RBAC forbids it: grant the "
                      "controller's service account list and watch on rollouts.argoproj.io in all "
                      "namespaces: the ClusterRole of k8s/base, or with --namespaced the Role of "
                      "k8s/namespaced)")
    status, body = await readyz(http, ports.healthz_port)
    assert status == 503 and body.startswith(f"[-]informers-synced failed: {reason}")
    assert process.factory.made == []
    api_server.faults.clear()
    await until(lambda: process.factory.made, within=15, what="the caches synced once RBAC allows it")
    assert any(line["event"] == "start-up problem resolved" and line["check"] == "caches" for line in logs)
    assert len(problems(logs, "caches")) == 1
    await process.finish()


async def test_a_missing_rollout_crd_is_named(api_server: ApiServer, kubeconfig: Path,
                                              http: aiohttp.ClientSession,
                                              logs: Logs) -> None:
    api_server.storage.registry.unregister(ROLLOUTS)  # the API server no longer serves it: LIST answers 404
    process = Process(make_settings(kubeconfig), Factory())
    ports = await process.listening()
    line = await until(lambda: problems(logs, "caches"), within=10, what="the ERROR line")
    reason = line[0]["reason"]
    assert reason.startswith("rollouts.argoproj.io not synced: 404 ")
    assert ("(is the Rollout CustomResourceDefinition rollouts.argoproj.io (argoproj.io/v1alpha1) "
            "installed?); install Argo Rollouts' CRDs: kubectl apply -k ") in reason
    status, body = await readyz(http, ports.healthz_port)
    assert status == 503 and body.startswith(f"[-]informers-synced failed: {reason}")
    assert process.factory.made == []
    await process.finish()


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nowhere for botocore to find credentials: no AWS_* variable, empty files, no instance metadata."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        empty = tmp_path / name.lower()
        empty.write_text("")
        monkeypatch.setenv(name, str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_credentials")
async def test_no_aws_credentials_is_named(api_server: ApiServer, kubeconfig: Path,
                                           http: aiohttp.ClientSession, logs: Logs) -> None:
    aws = settings.AlbSettings(verify_target_group=True,
                               client=elbv2.AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    process = Process(make_settings(kubeconfig, aws=aws), Factory(),
                      check_aws_credentials=startup_checks.aws_credentials_problem)
    ports = await process.listening()
    line = await until(lambda: problems(logs, "aws-credentials"), within=10, what="the ERROR line")
    assert line[0]["log_level"] == "error" and line[0]["reason"] == startup_checks.NO_CREDENTIALS
    assert "eks.amazonaws.com/role-arn" in line[0]["reason"] and "AWS_ACCESS_KEY_ID" in line[0]["reason"]
    await until(lambda: process.factory.made, within=10, what="the reconciler (Rollouts say what they lack)")
    expected = (503, f"[+]informers-synced ok\n[-]aws-credentials failed: {startup_checks.NO_CREDENTIALS}\n"
                     "readyz check failed\n")

    async def explained() -> bool:
        return await readyz(http, ports.healthz_port) == expected

    await until(explained, within=10, what="/readyz naming the missing credentials alone")
    await process.finish()


async def test_credentials_in_the_environment_are_found(monkeypatch: pytest.MonkeyPatch,
                                                        no_aws_credentials: None) -> None:
    assert await startup_checks.aws_credentials_problem() == startup_checks.NO_CREDENTIALS
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert await startup_checks.aws_credentials_problem() is None


def test_a_cause_is_logged_once_again_when_it_changes_or_after_the_slow_interval(
        logs: Logs) -> None:
    clock, probes = FakeClock(), health.Health()
    found = startup_checks.Problems(probes, clock, repeat_seconds=60)
    for _ in range(5):
        found.report("lease", "cause A")
    found.report("lease", "cause B")
    found.report("lease", "cause A")  # alternating causes are not logged at each turn
    clock.advance(61)
    found.report("lease", "cause A")
    assert [line["reason"] for line in logs if line["event"] == "start-up problem"] == [
        "cause A", "cause B", "cause A"]
    assert not probes.ready() and found.current() == {"lease": "cause A"}
    found.report("lease", None)
    found.report("lease", None)
    assert probes.ready() and found.current() == {}
    assert [line["event"] for line in logs].count("start-up problem resolved") == 1


class Controller:
    """`python -m service.commands.run` with its JSON log lines collected."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.raw.append(line.decode())
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                continue

    def logged(self, msg: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("msg") == msg]

    async def terminate(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 30)
        await self.reader
        return code


async def test_the_process_names_a_missing_lease_namespace_then_leads(
        api_server: ApiServer, kubeconfig: Path, http: aiohttp.ClientSession) -> None:
    # The README's flags; the Lease namespace is the default argo-rollouts, which the cluster lacks.
    argv = [sys.executable, "-m", "service.commands.run", "--aws-verify-target-group", "--aws-region",
            "eu-west-1", "--kubeconfig", str(kubeconfig), "--aws-endpoint-url", "http://127.0.0.1:9",
            "--metricsPort", "0", "--healthzPort", "0", "--debug-address", "", "--logformat", "json",
            "--leader-election-retry-period", "0.5s"]
    env = {key: value for key, value in os.environ.items() if key != "POD_NAMESPACE"}
    env.update(PYTHONUNBUFFERED="1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_EC2_METADATA_DISABLED="true")
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT, env=env)
    controller = Controller(process)
    try:
        listening = await until(lambda: controller.logged("listening"), within=20, what="the listening line")
        port = listening[0]["healthz_port"]
        line = (await until(lambda: controller.logged("start-up problem"), within=10, what="the ERROR"))[0]
        assert line["level"] == "error" and line["check"] == "leader-election"
        assert line["namespace"] == "argo-rollouts"
        assert line["reason"].startswith('the Lease namespace argo-rollouts does not exist (404 NotFound: '
                                         'namespaces "argo-rollouts" not found): create it (kubectl create '
                                         'namespace argo-rollouts), or set POD_NAMESPACE')
        status, body = await readyz(http, port)
        assert status == 503 and f"[-]leader-election failed: {line['reason']}\n" in body
        api_server.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": "argo-rollouts"}})
        await until(lambda: controller.logged("leader election: leading"), within=15, what="leading")
        assert controller.logged("start-up problem resolved")
        assert len(controller.logged("start-up problem")) == 1, "".join(controller.raw)

        async def ready() -> bool:
            return (await readyz(http, port))[0] == 200

        await until(ready, within=15, what="/readyz 200")
    finally:
        code = await controller.terminate()
    assert code == 0, "".join(controller.raw)
