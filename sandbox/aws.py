"""AWS side of the sandbox: moto's ELBv2/EC2 server on loopback, reset, network setup and aiobotocore clients.

It only starts and wires moto; it never decides what the load balancer should look like (that is `lbc/`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

__all__ = [
    "REGION",
    "MotoServer",
    "Network",
    "client",
    "ensure_network",
]

REGION = "us-east-1"
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_VPC_CIDR = "10.0.0.0/16"
_SUBNETS = (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))


class MotoServer:
    """moto's threaded Werkzeug server on 127.0.0.1; every service on one port.

    With `process=True` it runs in a process of its own (`python -m moto.server`), as AWS is another machine:
    its request handling then never holds the sandbox's interpreter lock (the API server, cluster, LBC).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, process: bool = False) -> None:
        self._host = host
        self._port = port
        self._process_wanted = process
        self._process: subprocess.Popen[bytes] | None = None
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> None:
        if self._process_wanted:
            self._start_process()
            return
        from moto.server import ThreadedMotoServer

        # One line per request would drown the sandbox's own output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def _start_process(self) -> None:
        port = self._port or _free_port(self._host)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self._host, "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint_url = f"http://{self._host}:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=5) as response:
                    response.read()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's server did not start (python -m moto.server)") from None
                time.sleep(0.1)  # polled: the child says nothing when it listens

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def reset(self) -> None:
        """Forget every AWS resource (moto's state is per process, shared by all clients)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    async def areset(self) -> None:
        await asyncio.to_thread(self.reset)

    def warm_up(self) -> None:
        """Build moto's EC2 and ELBv2 backends now (EC2's first use takes seconds; resets keep them)."""
        for service, body in (("ec2", "Action=DescribeVpcs&Version=2016-11-15"),
                              ("elasticloadbalancing", "Action=DescribeLoadBalancers&Version=2015-12-01")):
            # moto routes by the credential scope and does not check signatures.
            scope = f"testing/20260101/{REGION}/{service}/aws4_request"
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
            }
            request = urllib.request.Request(
                f"{self.endpoint_url}/", data=body.encode(), method="POST", headers=headers
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Network:
    """The VPC and the two subnets (different AZs) an ALB needs."""

    vpc_id: str
    subnet_ids: tuple[str, str]


@functools.cache
def _session() -> Any:
    """One botocore session per process: loading the service models is the slow part of making a client."""
    return get_session()


@contextlib.asynccontextmanager
async def client(service: str, endpoint_url: str, *, region: str = REGION) -> AsyncIterator[Any]:
    """An aiobotocore client for `service` ("elbv2", "ec2") pointed at moto, with fake credentials."""
    session = _session()
    config = AioConfig(
        retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10,
        user_agent_extra="alb-rollouts-sandbox",  # aws_proxy.SANDBOX_AGENT: not counted as the client's calls
    )
    async with session.create_client(
        service, region_name=region, endpoint_url=endpoint_url, config=config, **_CREDENTIALS
    ) as made:
        yield made


async def ensure_network(ec2: Any) -> Network:
    """Return the sandbox VPC (tagged Name=alb-rollouts-sandbox), creating it and its subnets when missing."""
    found = await ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["alb-rollouts-sandbox"]}])
    if found["Vpcs"]:
        vpc_id = found["Vpcs"][0]["VpcId"]
        subnets = await ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        ids = sorted(s["SubnetId"] for s in subnets["Subnets"])
        if len(ids) >= 2:
            return Network(vpc_id=vpc_id, subnet_ids=(ids[0], ids[1]))
    else:
        vpc = await ec2.create_vpc(
            CidrBlock=_VPC_CIDR,
            TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "alb-rollouts-sandbox"}]}
            ],
        )
        vpc_id = vpc["Vpc"]["VpcId"]
    made = []
    for cidr, zone in _SUBNETS:
        subnet = await ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)
        made.append(subnet["Subnet"]["SubnetId"])
    return Network(vpc_id=vpc_id, subnet_ids=(made[0], made[1]))
