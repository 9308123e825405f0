"""Shared sandbox fixtures: moto on loopback (one per session, reset after each test), aiobotocore clients,
the API server and its storage, the simulated cluster, and the LBC simulator.

    moto_server   session: sandbox.aws.MotoServer (ThreadedMotoServer on 127.0.0.1, port 0)
    aws_endpoint  moto's URL; resets every AWS resource after the test
    elbv2, ec2    aiobotocore clients on aws_endpoint
    api_server    (tests/conftest.py) sandbox.apiserver.server.ApiServer on 127.0.0.1, port 0
    storage       (tests/conftest.py) api_server.storage (the in-process Storage API)
    cluster       sandbox.cluster.Cluster on storage (pods Ready at once)
    lbc           sandbox.lbc.LoadBalancerController on storage + moto (knobs at their defaults)
    aws_proxy     sandbox.aws_proxy.AwsProxy over moto telling the truth from `lbc`'s registration clock
    elbv2_truth   aiobotocore ELBv2 client through aws_proxy (target health as AWS would report it)
    sandbox       sandbox.running.Sandbox (all of the above plus the control endpoint) sharing moto_server
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sandbox import aws
from sandbox.apiserver.storage import Storage
from sandbox.aws_proxy import AwsProxy
from sandbox.lbc import LoadBalancerController
from sandbox.running import Sandbox


@pytest.fixture
async def elbv2(aws_endpoint: str) -> AsyncIterator[Any]:
    async with aws.client("elbv2", aws_endpoint) as made:
        yield made


@pytest.fixture
async def ec2(aws_endpoint: str) -> AsyncIterator[Any]:
    async with aws.client("ec2", aws_endpoint) as made:
        yield made


@pytest.fixture
async def cluster(storage: Storage) -> AsyncIterator[Any]:
    from sandbox.cluster import Cluster

    made = Cluster(storage, pod_ready_seconds=0.0)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def lbc(storage: Storage, aws_endpoint: str) -> AsyncIterator[LoadBalancerController]:
    # Retries are logged as warnings; keep them visible in failures, not as noise in passing runs.
    logging.getLogger("sandbox.lbc").setLevel(logging.ERROR)
    async with LoadBalancerController(storage, endpoint_url=aws_endpoint, cluster="test") as made:
        yield made


@pytest.fixture
async def aws_proxy(lbc: LoadBalancerController, aws_endpoint: str) -> AsyncIterator[AwsProxy]:
    async with AwsProxy(aws_endpoint, health=lbc.target_health) as made:
        yield made


@pytest.fixture
async def elbv2_truth(aws_proxy: AwsProxy) -> AsyncIterator[Any]:
    async with aws.client("elbv2", aws_proxy.url) as made:
        yield made


@pytest.fixture
async def sandbox(moto_server: aws.MotoServer, aws_endpoint: str) -> AsyncIterator[Sandbox]:
    logging.getLogger("sandbox.lbc").setLevel(logging.ERROR)
    made = Sandbox(moto=moto_server, pod_ready_seconds=0.0, bookmark_interval=0.2, watch_timeout=5.0)
    async with made:
        yield made
