"""The controller's flags and environment, parsed once into grouped frozen settings.

Room: start-up. Names and defaults are the reference controller's (cmd/rollouts-controller/main.go) so a
Deployment's args carry over unchanged; `add_arguments` declares them and `from_args` builds `Settings`.
It never reads settings from globals later, never logs, and never touches the network.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service import flag_values
from service.aws import elbv2, throttling

__all__ = ["COMPAT_FLAGS", "DEFAULT_LEASE_NAMESPACE", "RECONCILE_AWS_RETRY", "RECONCILE_AWS_TIMEOUT",
           "REFERENCE_LEASE_NAME",
           "SA_NAMESPACE_FILE", "VERIFY_RETRY_INTERVAL_ENV",
           "AlbSettings", "HttpSettings", "KubeSettings", "LeaderSettings", "LoggingSettings",
           "QueueingSettings", "Settings", "SettingsError", "add_arguments", "from_args"]

VERIFY_RETRY_INTERVAL_ENV = "ROLLOUT_VERIFY_RETRY_INTERVAL"
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_LEASE_NAMESPACE = "argo-rollouts"
REFERENCE_LEASE_NAME = "argo-rollouts-controller-lock"
"""The Lease the Argo Rollouts controller leads on (its defaults.DefaultLeaderElectionLeaseLockName)."""


class SettingsError(ValueError):
    """A value that cannot be used; the message names the flag or variable and says what is wanted."""


RECONCILE_AWS_TIMEOUT = 3.0
"""Seconds one ELBv2 attempt may take inside a reconcile."""
RECONCILE_AWS_RETRY = throttling.RetryPolicy(max_attempts=2, base_seconds=0.2, cap_seconds=1.0,
                                             deadline_seconds=4.0)
"""A reconcile never waits long on AWS: a throttled or slow answer is an unverified one, asked again at the
next look (a requeue), so a worker is held seconds at most (`alb-rollouts verify` keeps the patient
default)."""


def _reconcile_aws(**options: Any) -> elbv2.AwsSettings:
    return elbv2.AwsSettings(call_timeout_seconds=RECONCILE_AWS_TIMEOUT, retry=RECONCILE_AWS_RETRY, **options)

@dataclass(frozen=True, slots=True)
class KubeSettings:
    """How to reach the Kubernetes API and what to watch."""

    kubeconfig: str | None = None
    """--kubeconfig: a kubeconfig file; None means KUBECONFIG, ~/.kube/config, then in-cluster."""
    namespaced: bool = False
    """--namespaced: watch only the kubeconfig's namespace (no cluster RBAC needed)."""
    instance_id: str = ""
    """--instance-id: handle only Rollouts labelled with it; "" means only unlabelled Rollouts."""
    qps: float = 40.0
    """--qps: steady requests per second to the API server (client side)."""
    burst: int = 80
    """--burst: requests allowed at once above --qps."""
    resync_seconds: float = 900.0
    """--rollout-resync: every Rollout is reconciled at least this often even without events."""
    ingress_api_version: str = ""
    """--ingress-api-version: "" asks the server; networking/v1 or extensions/v1beta1 force one."""
    request_timeout_seconds: float = 30.0
    """Deadline of one API request (a watch's is its own, longer, server-side timeout)."""


@dataclass(frozen=True, slots=True)
class QueueingSettings:
    """How many reconciles run at once."""

    rollout_threads: int = 10
    """--rollout-threads: Rollout workers; one Rollout is never reconciled by two at once."""
    ingress_threads: int = 10
    """--ingress-threads: workers cleaning Ingresses of deleted Rollouts."""


@dataclass(frozen=True, slots=True)
class AlbSettings:
    """ALB traffic routing and its verification against ELBv2 (the "aws" group)."""

    verify_target_group: bool = False
    """--aws-verify-target-group (alias --alb-verify-weight): check weights and pod IPs in ELBv2."""
    ingress_classes: tuple[str, ...] = ("alb",)
    """--alb-ingress-classes: Ingress classes we may write to; "" stands for an Ingress with no class."""
    tag_key_resource_id: str = "ingress.k8s.aws/resource"
    """--alb-tag-key-resource-id: the target group tag naming its Ingress, Service and port."""
    target_group_binding_api_version: str = "elbv2.k8s.aws/v1beta1"
    """--aws-target-group-binding-api-version: group/version of the LBC's TargetGroupBindings."""
    verify_retry_interval_seconds: float = 10.0
    """ROLLOUT_VERIFY_RETRY_INTERVAL: how soon an unverified step is looked at again."""
    client: elbv2.AwsSettings = field(default_factory=lambda: _reconcile_aws())
    """--aws-region, --aws-endpoint-url, --aws-max-rps: the one ELBv2 client of the process."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the probes, metrics and debug API listen."""

    metrics_port: int = 8090
    """--metricsPort: /metrics for Prometheus."""
    healthz_port: int = 8080
    """--healthzPort: /healthz (liveness) and /readyz (readiness)."""
    host: str = "0.0.0.0"
    """Interface of the metrics and health ports (all, as the reference listens)."""
    debug_address: tuple[str, int] | None = ("127.0.0.1", 8091)
    """--debug-address HOST:PORT of the debug API; None (flag "") turns it off."""


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    """Leader election between replicas of the controller (a Lease)."""

    elect: bool = True
    """--leader-elect: only the replica holding the Lease reconciles."""
    lease_duration_seconds: float = 15.0
    """--leader-election-lease-duration: how long others wait before taking an unrenewed Lease."""
    renew_deadline_seconds: float = 10.0
    """--leader-election-renew-deadline: how long the leader keeps retrying a renewal before it stops."""
    retry_period_seconds: float = 2.0
    """--leader-election-retry-period: pause between attempts to acquire or renew."""
    namespace: str = DEFAULT_LEASE_NAMESPACE
    """Namespace of the Lease: POD_NAMESPACE, else the service account's, else argo-rollouts."""
    lease_name: str = REFERENCE_LEASE_NAME
    """--leader-election-lease-name: the reference's Lease by default, so during a swap the old and the new
    controller can never both lead; suffixed by --instance-id so side-by-side controllers do not exclude
    each other."""


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """What is logged and how it is written."""

    level: str = "info"
    """--loglevel: debug, info, warn or error (logrus's other names are mapped to these)."""
    format: str = "text"
    """--logformat: text (human-readable lines) or json (one JSON object per line)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the controller was started with, grouped by who uses it."""

    kube: KubeSettings = field(default_factory=KubeSettings)
    """API server access and what to watch."""
    queueing: QueueingSettings = field(default_factory=QueueingSettings)
    """Worker counts."""
    aws: AlbSettings = field(default_factory=AlbSettings)
    """ALB routing, verification and the ELBv2 client."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """Probe, metrics and debug listeners."""
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    """Leader election."""
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    """Log level and format."""


# Defaults read from instances: on a slotted dataclass the class attribute is a descriptor, not the value.
_ALB, _HTTP, _LEADER = AlbSettings(), HttpSettings(), LeaderSettings()

# ---- declaration ----

COMPAT_FLAGS = ("--kloglevel", "--experiment-threads", "--analysis-threads", "--service-threads",
                "--ephemeral-metadata-threads", "--istio-api-version", "--ambassador-api-version",
                "--traffic-split-api-version", "--appmesh-crd-version", "--traefik-api-group",
                "--traefik-api-version", "--nginx-ingress-classes")
"""Reference flags for features we do not have: accepted (so the reference's args still start us), unused."""


def _bool_flag(group: argparse._ArgumentGroup, *names: str, dest: str, default: bool, help_text: str) -> None:
    # pflag booleans: "--flag" means true, "--flag=false" turns a default-true flag off.
    group.add_argument(*names, dest=dest, nargs="?", const=True, default=default, type=flag_values.go_bool,
                       metavar="BOOL", help=f"{help_text} (default {str(default).lower()})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every controller flag on `parser` (the future `alb-rollouts run` subcommand's)."""
    kube = parser.add_argument_group("Kubernetes")
    kube.add_argument("--kubeconfig", metavar="PATH",
                      help="kubeconfig file, only needed out of cluster (default: KUBECONFIG, "
                      "~/.kube/config, then in-cluster)")
    _bool_flag(kube, "--namespaced", dest="namespaced", default=False,
               help_text="watch only the kubeconfig's namespace; no cluster RBAC needed")
    kube.add_argument("--instance-id", type=flag_values.label_value, default="", metavar="ID",
                      help="handle only Rollouts labelled "
                      "argo-rollouts.argoproj.io/controller-instance-id=ID (default: only unlabelled ones)")
    kube.add_argument("--qps", type=flag_values.positive_float("a number of requests per second above 0"),
                      default=40.0,
                      metavar="N", help="requests per second to the API server (default %(default)g)")
    kube.add_argument("--burst", type=flag_values.bounded_int(1, None, "a whole number of requests from 1"),
                      default=80,
                      metavar="N", help="requests allowed at once above --qps (default %(default)s)")
    kube.add_argument("--rollout-resync", type=flag_values.positive_float("a number of seconds above 0"),
                      default=900.0,
                      metavar="SECONDS", help="reconcile every Rollout at least this often (default 900)")
    kube.add_argument("--ingress-api-version", type=flag_values.ingress_api_version, default="", metavar="V",
                      help="networking/v1 or extensions/v1beta1 (default: ask the API server)")

    queue = parser.add_argument_group("Workers")
    threads = flag_values.bounded_int(1, None, "a whole number of workers from 1")
    queue.add_argument("--rollout-threads", type=threads, default=10, metavar="N",
                       help="Rollouts reconciled at once (default %(default)s)")
    queue.add_argument("--ingress-threads", type=threads, default=10, metavar="N",
                       help="Ingresses cleaned at once (default %(default)s)")

    aws = parser.add_argument_group("ALB and AWS")
    _bool_flag(aws, "--aws-verify-target-group", "--alb-verify-weight", dest="aws_verify_target_group",
               default=False, help_text="before each step goes on, check in ELBv2 that the ALB carries the "
               "weights and the pods' IPs are registered (--alb-verify-weight is the deprecated alias)")
    aws.add_argument("--alb-ingress-classes", action="append", default=None, metavar="CLASS",
                     help="an Ingress class we may write to; repeat for several; '' means an Ingress without "
                     "a class (default alb)")
    aws.add_argument("--alb-tag-key-resource-id", default=_ALB.tag_key_resource_id, metavar="KEY",
                     help="target group tag naming its Ingress/Service/port (default %(default)s)")
    aws.add_argument("--aws-target-group-binding-api-version", type=flag_values.group_version,
                     default=_ALB.target_group_binding_api_version, metavar="GROUP/VERSION",
                     help="TargetGroupBinding API version (default %(default)s)")
    aws.add_argument("--aws-region", metavar="REGION",
                     help="AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION)")
    aws.add_argument("--aws-endpoint-url", type=flag_values.endpoint_url, metavar="URL",
                     help="ELBv2 endpoint, e.g. the sandbox's (default: the region's)")
    aws.add_argument("--aws-max-rps", type=flag_values.rate, default=_ALB.client.max_rps, metavar="N",
                     help="ELBv2 calls per second at most, for the whole process (default %(default)g)")

    http = parser.add_argument_group("HTTP")
    http.add_argument("--metricsPort", "--metricsport", dest="metrics_port", type=flag_values.port,
                      default=_HTTP.metrics_port, metavar="PORT",
                      help="port of /metrics (default %(default)s)")
    http.add_argument("--healthzPort", dest="healthz_port", type=flag_values.port, default=_HTTP.healthz_port,
                      metavar="PORT", help="port of /healthz and /readyz (default %(default)s)")
    http.add_argument("--debug-address", type=flag_values.address, default="127.0.0.1:8091",
                      metavar="HOST:PORT",
                      help="where the debug API listens; '' turns it off (default %(default)s)")

    leader = parser.add_argument_group("Leader election")
    _bool_flag(leader, "--leader-elect", dest="leader_elect", default=True,
               help_text="only one replica reconciles at a time; --leader-elect=false turns it off")
    leader.add_argument("--leader-election-lease-duration", type=flag_values.positive_duration, default=15.0,
                        metavar="DURATION", help="how long others wait before taking an unrenewed lease "
                        "(default 15s)")
    leader.add_argument("--leader-election-renew-deadline", type=flag_values.positive_duration, default=10.0,
                        metavar="DURATION", help="how long the leader retries renewing before it stops "
                        "leading (default 10s)")
    leader.add_argument("--leader-election-retry-period", type=flag_values.positive_duration, default=2.0,
                        metavar="DURATION", help="pause between attempts to acquire or renew (default 2s)")
    leader.add_argument("--leader-election-lease-name", default=REFERENCE_LEASE_NAME, metavar="NAME",
                        help="the Lease to lead on (default %(default)s, the Argo Rollouts controller's own: "
                        "the two never lead together); --instance-id appends -<id>")

    logs = parser.add_argument_group("Logging")
    logs.add_argument("--loglevel", type=flag_values.log_level, default="info", metavar="LEVEL",
                      help="debug, info, warn or error (default %(default)s)")
    logs.add_argument("--logformat", type=flag_values.log_format, default="text", metavar="FORMAT",
                      help="text or json (default %(default)s)")

    compat = parser.add_argument_group(
        "Reference flags for features alb-rollouts does not have", "accepted so the reference's args still "
        "start the controller; they change nothing")
    for name in COMPAT_FLAGS:
        compat.add_argument(name, dest=f"ignored_{name[2:].replace('-', '_')}", action="append",
                            metavar="VALUE", help="no effect")
    compat.add_argument("--self-service-notification-enabled", dest="ignored_self_service_notification",
                        nargs="?", const=True, type=flag_values.go_bool, metavar="BOOL", help="no effect")


# ---- building ----


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None, *,
              parser: argparse.ArgumentParser | None = None,
              namespace_file: Path = SA_NAMESPACE_FILE) -> Settings:
    """Settings from parsed flags and the environment; with `parser`, a bad value ends in parser.error."""
    env = os.environ if environ is None else environ
    try:
        return _build(args, env, namespace_file)
    except SettingsError as exc:
        if parser is None:
            raise
        parser.error(str(exc))


def _build(args: argparse.Namespace, env: Mapping[str, str], namespace_file: Path) -> Settings:
    leader = LeaderSettings(
        elect=args.leader_elect,
        lease_duration_seconds=args.leader_election_lease_duration,
        renew_deadline_seconds=args.leader_election_renew_deadline,
        retry_period_seconds=args.leader_election_retry_period,
        namespace=_lease_namespace(env, namespace_file),
        lease_name=_lease_name(args.leader_election_lease_name, args.instance_id),
    )
    if leader.elect:
        _check_leader(leader)
    return Settings(
        kube=KubeSettings(kubeconfig=args.kubeconfig or None, namespaced=args.namespaced,
                          instance_id=args.instance_id, qps=args.qps, burst=args.burst,
                          resync_seconds=args.rollout_resync, ingress_api_version=args.ingress_api_version),
        queueing=QueueingSettings(rollout_threads=args.rollout_threads, ingress_threads=args.ingress_threads),
        aws=AlbSettings(
            verify_target_group=args.aws_verify_target_group,
            ingress_classes=tuple(dict.fromkeys(args.alb_ingress_classes or ["alb"])),
            tag_key_resource_id=args.alb_tag_key_resource_id,
            target_group_binding_api_version=args.aws_target_group_binding_api_version,
            verify_retry_interval_seconds=_verify_retry_interval(env),
            client=_reconcile_aws(region=args.aws_region or None, endpoint_url=args.aws_endpoint_url,
                                  max_rps=args.aws_max_rps),
        ),
        http=HttpSettings(metrics_port=args.metrics_port, healthz_port=args.healthz_port,
                          debug_address=args.debug_address),
        leader=leader,
        logging=LoggingSettings(level=args.loglevel, format=args.logformat),
    )


def _verify_retry_interval(env: Mapping[str, str]) -> float:
    raw = env.get(VERIFY_RETRY_INTERVAL_ENV, "").strip()
    if not raw:  # unset, or `value: ""` in a manifest: the default
        return _ALB.verify_retry_interval_seconds
    try:
        seconds = flag_values.parse_duration(raw)
    except ValueError:
        raise SettingsError(f"environment variable {VERIFY_RETRY_INTERVAL_ENV}={raw!r} is not a duration; "
                            "use e.g. 10s, 1m or a number of seconds") from None
    if seconds <= 0:
        raise SettingsError(f"environment variable {VERIFY_RETRY_INTERVAL_ENV}={raw!r} must be more than 0")
    return seconds


def _check_leader(leader: LeaderSettings) -> None:
    # client-go's (and kubernetes-asyncio's) rules; breaking them makes leadership flap.
    if leader.lease_duration_seconds <= leader.renew_deadline_seconds:
        raise SettingsError(
            f"--leader-election-lease-duration ({leader.lease_duration_seconds:g}s) must be longer than "
            f"--leader-election-renew-deadline ({leader.renew_deadline_seconds:g}s)")
    if leader.renew_deadline_seconds <= 1.2 * leader.retry_period_seconds:
        raise SettingsError(
            f"--leader-election-renew-deadline ({leader.renew_deadline_seconds:g}s) must be longer than "
            f"1.2 x --leader-election-retry-period ({leader.retry_period_seconds:g}s)")


def _lease_name(base: str, instance_id: str) -> str:
    # A Lease name is a DNS subdomain: lower case, no "_"; an instance id is a label value, which may differ.
    suffix = re.sub(r"[^a-z0-9.-]+", "-", instance_id.lower()).strip("-.")
    return f"{base}-{suffix}" if suffix else base


def _lease_namespace(env: Mapping[str, str], namespace_file: Path) -> str:
    # The reference's defaults.Namespace(): POD_NAMESPACE, then the service account's namespace file.
    if "POD_NAMESPACE" in env:
        return env["POD_NAMESPACE"]
    try:
        text = namespace_file.read_text().strip()
    except OSError:
        text = ""
    return text or DEFAULT_LEASE_NAMESPACE
