"""`alb-rollouts verify`: ask ELBv2 whether the ALB carries a Rollout's weights (and its pods' IPs).

Room: a one-shot diagnostic beside the controller. It reads the cluster once (kubernetes-asyncio), runs the
same verifiers as the controller, prints one JSON object and exits 0 (verified), 3 (not yet) or 1 (error).
It never writes to the cluster or to AWS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import structlog

from service.aws import desired, elbv2, inputs, results, throttling, verifying
from statemachine import models, validation

__all__ = ["Clock", "ClusterReads", "KubeReads", "Report", "VerifyError", "configure", "run", "run_async",
           "verify_rollout"]

EXIT_VERIFIED, EXIT_ERROR, EXIT_UNVERIFIED = 0, 1, 3
KUBE_TIMEOUT_SECONDS = 30.0
# A person is waiting: be patient with throttling (the controller uses shorter retries and requeues).
CLI_RETRY = throttling.RetryPolicy(max_attempts=8, base_seconds=0.2, cap_seconds=10.0, deadline_seconds=90.0)


class VerifyError(Exception):
    """Something the user must fix before verification can run; printed on stderr, exit 1."""


class ClusterReads(Protocol):
    """The one-shot reads the command needs; None / [] when the object does not exist."""

    async def rollout(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def ingress(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def target_group_bindings(self, namespace: str) -> list[dict[str, Any]]: ...

    async def replica_sets(self, namespace: str) -> list[dict[str, Any]]: ...

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]: ...


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of calls per second, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 calls per second, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollout", required=True, metavar="NAMESPACE/NAME", help="the Rollout to verify")
    parser.add_argument("--weight", type=int, metavar="N",
                        help="canary weight to verify (default: the weight the controller wants now, "
                        "planned from the Rollout and its ReplicaSets)")
    parser.add_argument("--targets", action="store_true",
                        help="also check that the stable Service's ready pod IPs are registered")
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: KUBECONFIG, "
                        "~/.kube/config, then in-cluster)")
    parser.add_argument("--aws-region", metavar="R",
                        help="AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION)")
    parser.add_argument("--aws-endpoint-url", metavar="URL", help="ELBv2 endpoint (the sandbox's moto)")
    parser.add_argument("--aws-max-rps", type=_rate, default=5.0, metavar="N",
                        help="ELBv2 calls per second at most (default 5)")
    parser.add_argument("--alb-tag-key-resource-id", default=results.DEFAULT_TAG_KEY, metavar="KEY",
                        help="target group tag naming its Ingress/Service/port (default %(default)s)")
    parser.add_argument("--aws-target-group-binding-api-version", default="elbv2.k8s.aws/v1beta1",
                        metavar="GROUP/VERSION", help="TargetGroupBinding API version (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_async(args))


async def run_async(args: argparse.Namespace, *, kube: ClusterReads | None = None,
                    clock: Clock | None = None) -> int:
    """The command; `kube` replaces the cluster reads, `clock` the time and sleeps (tests)."""
    if not structlog.is_configured():
        # stdout carries only the JSON; the words are printed on stderr below, logs only when things break.
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr),
                            wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        namespace, name = _split_key(args.rollout)
        settings = elbv2.AwsSettings(region=args.aws_region, endpoint_url=args.aws_endpoint_url,
                                     max_rps=args.aws_max_rps, retry=CLI_RETRY)
        if kube is None:
            async with KubeReads.open(args.kubeconfig, args.aws_target_group_binding_api_version) as reads:
                report = await _with_aws(reads, settings, namespace, name, args, clock or Clock())
        else:
            report = await _with_aws(kube, settings, namespace, name, args, clock or Clock())
    except VerifyError as error:
        print(f"alb-rollouts verify: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(report.output, indent=2))
    for line in (*report.notes, *report.errors):
        print(f"alb-rollouts verify: {line}", file=sys.stderr)
    if report.errors:
        return EXIT_ERROR
    return EXIT_VERIFIED if report.output["verified"] else EXIT_UNVERIFIED


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """Where the command reads time and how it waits; tests replace them."""

    now: Callable[[], datetime] = _utc_now
    monotonic: throttling.Monotonic = time.monotonic
    sleep: throttling.Sleep = asyncio.sleep


async def _with_aws(kube: ClusterReads, settings: elbv2.AwsSettings, namespace: str, name: str,
                    args: argparse.Namespace, clock: Clock) -> Report:
    try:
        async with verifying.open_verifiers(settings, monotonic=clock.monotonic, sleep=clock.sleep) as aws:
            return await verify_rollout(kube, aws, namespace, name, weight=args.weight, targets=args.targets,
                                        tag_key=args.alb_tag_key_resource_id, now=clock.now())
    except elbv2.AwsCallError as error:
        raise VerifyError(error.describe()) from error


@dataclass(frozen=True, slots=True)
class Report:
    """The JSON to print, AWS errors (exit 1) and notes on what is not verified yet (stderr, exit 3)."""

    output: dict[str, Any]
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


async def verify_rollout(kube: ClusterReads, aws: verifying.AwsVerifiers, namespace: str, name: str, *,
                         weight: int | None = None, targets: bool = False,
                         tag_key: str = results.DEFAULT_TAG_KEY, now: datetime | None = None) -> Report:
    """Read, verify, and build the JSON of the issue; raises VerifyError for what the user must fix."""
    if weight is not None and not 0 <= weight <= 100:
        raise VerifyError(f"--weight must be between 0 and 100, not {weight}")
    raw = await kube.rollout(namespace, name)
    if raw is None:
        raise VerifyError(f"rollout {namespace}/{name} not found")
    try:
        rollout = models.parse_rollout(raw)
    except models.InvalidSpec as error:
        raise VerifyError(f"InvalidSpec: {error.message}") from error
    if rollout.canary is None or rollout.canary.alb is None:
        raise VerifyError(f"rollout {namespace}/{name} does not use ALB traffic routing "
                          "(spec.strategy.canary.trafficRouting.alb)")
    ingresses: dict[str, dict[str, Any] | None] = {}
    for ingress_name in inputs.ingress_names(rollout):
        ingresses[ingress_name] = await kube.ingress(namespace, ingress_name)
        if ingresses[ingress_name] is None:
            raise VerifyError(f"ingress {namespace}/{ingress_name} not found")
    try:
        validation.check(rollout, ingresses=ingresses)
    except models.InvalidSpec as error:
        raise VerifyError(f"InvalidSpec: {error.message}") from error
    if weight is None:
        # The planner decides from the ReplicaSets, exactly as the controller would this cycle.
        wanted = desired.desired_weights(rollout, await kube.replica_sets(namespace),
                                         now=now or _utc_now())
        why = [f"rollout {namespace}/{name}: the controller wants canary weight {wanted.canary} "
               f"({wanted.why})"]
    else:
        wanted, why = desired.Desired(weight, (), "--weight"), []
    request = inputs.weight_request(rollout, ingresses, wanted.canary, additional=wanted.additional,
                                    tag_key=tag_key)
    weights = await aws.weights.verify(request)
    errors = [f"ingress {i.ingress}: {i.reason}" for i in weights.ingresses if i.error]
    notes = [f"ingress {i.ingress}: {i.reason}" for i in weights.ingresses if not i.verified and not i.error]
    if notes:
        notes = why + notes
    verified = weights.verified
    target_items: list[dict[str, Any]] = []
    if targets:
        stable, _ = inputs.stable_and_canary(rollout)
        service = await kube.service(namespace, stable)
        if service is None:
            raise VerifyError(f"service {namespace}/{stable} not found")
        bindings = await kube.target_group_bindings(namespace)
        slices = await kube.endpoint_slices(namespace, stable)
        checked = await aws.targets.verify(service, bindings, slices)
        target_items = [group.to_dict() for group in checked.target_groups]
        for group in checked.target_groups:
            line = f"service {group.service} (target group {group.target_group or '?'}): {group.reason}"
            if group.error:
                errors.append(line)
            elif not group.verified:
                notes.append(line)
        verified = verified and checked.verified
    output = {
        "verified": verified,
        "ingresses": [item.to_dict() for item in weights.ingresses],
        "targets": target_items,
        "awsCalls": dict(sorted(aws.client.calls.items())),
    }
    return Report(output=output, errors=tuple(errors), notes=tuple(notes))


def _split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    if not namespace or not name or "/" in name:
        raise VerifyError(f"--rollout must be NAMESPACE/NAME, not {key!r}")
    return namespace, name


class KubeReads:
    """`ClusterReads` over kubernetes-asyncio: one GET or LIST per object, each with a deadline."""

    def __init__(self, api: Any, tgb_api_version: str) -> None:
        from kubernetes_asyncio import client

        self.api = api
        self._custom = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._apps = client.AppsV1Api(api)
        self._net = client.NetworkingV1Api(api)
        self._discovery = client.DiscoveryV1Api(api)
        group, _, version = tgb_api_version.partition("/")
        self._tgb = (group, version or "v1beta1")

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, kubeconfig: str | None, tgb_api_version: str) -> AsyncIterator[KubeReads]:
        from kubernetes_asyncio import client, config

        configuration = client.Configuration()
        try:
            if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
            else:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as error:
            raise VerifyError(f"cannot load the Kubernetes configuration: {error}") from error
        async with client.ApiClient(configuration) as api:
            yield cls(api, tgb_api_version)

    async def _read(self, what: str, call: Callable[..., Awaitable[Any]], *args: Any,
                    **kwargs: Any) -> Any | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            found = await call(*args, _request_timeout=KUBE_TIMEOUT_SECONDS, **kwargs)
        except ApiException as error:
            if error.status == 404:
                return None
            raise VerifyError(f"reading {what}: HTTP {error.status} {error.reason}") from error
        except TimeoutError as error:
            raise VerifyError(f"reading {what}: no answer within {KUBE_TIMEOUT_SECONDS:g}s") from error
        except (aiohttp.ClientError, OSError) as error:
            raise VerifyError(f"reading {what}: {type(error).__name__}: {error}") from error
        return found if isinstance(found, dict) else self.api.sanitize_for_serialization(found)

    async def rollout(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._read(
            f"rollout {namespace}/{name}", self._custom.get_namespaced_custom_object, "argoproj.io",
            "v1alpha1", namespace, "rollouts", name)
        return found

    async def ingress(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._read(
            f"ingress {namespace}/{name}", self._net.read_namespaced_ingress, name, namespace)
        return found

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._read(
            f"service {namespace}/{name}", self._core.read_namespaced_service, name, namespace)
        return found

    async def target_group_bindings(self, namespace: str) -> list[dict[str, Any]]:
        group, version = self._tgb
        found = await self._read(f"targetgroupbindings in {namespace}",
                                 self._custom.list_namespaced_custom_object, group, version, namespace,
                                 "targetgroupbindings")
        return list((found or {}).get("items") or [])

    async def replica_sets(self, namespace: str) -> list[dict[str, Any]]:
        found = await self._read(f"replicasets in {namespace}", self._apps.list_namespaced_replica_set,
                                 namespace, label_selector=models.POD_TEMPLATE_HASH_LABEL)
        return list((found or {}).get("items") or [])

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        found = await self._read(f"endpointslices of {namespace}/{service}",
                                 self._discovery.list_namespaced_endpoint_slice, namespace,
                                 label_selector=f"kubernetes.io/service-name={service}")
        return list((found or {}).get("items") or [])
