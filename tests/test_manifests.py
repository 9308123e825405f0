"""The deployment manifests in k8s/ and the Dockerfile agree with the code.

Aspects: the ClusterRole grants every verb the controller uses on every resource it watches or writes; the
leader-election Role covers Leases; the Deployment's args parse with the controller's own flag parser; the
image's entry point is the console script pyproject.toml declares; k8s/examples/bluegreen/ parses, its Rollout
is valid for the controller (activeService and previewService name Services of the file that select its pods)
and its `alb` Ingress's backend is the active Service by port number, with no actions annotation.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import settings
from service.kube import resources, writing
from statemachine import parsing, validation

ROOT = Path(__file__).resolve().parent.parent


def _documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((ROOT / "k8s" / name).read_text()) if doc]


def _granted(kind: str) -> set[tuple[str, str, str]]:
    """(group, resource, verb) triples the named role kind grants."""
    role = next(doc for doc in _documents("rbac.yaml") if doc["kind"] == kind)
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


WATCHED = resources.watched("elbv2.k8s.aws/v1beta1")
WRITES = [
    ("argoproj.io", "rollouts", "patch"),
    ("argoproj.io", "rollouts/status", "patch"),
    ("apps", "replicasets", "create"),
    ("apps", "replicasets", "patch"),
    ("apps", "replicasets", "delete"),
    ("apps", "deployments", "update"),
    ("", "services", "patch"),
    ("networking.k8s.io", "ingresses", "patch"),
    (writing.EVENTS.group, writing.EVENTS.plural, "create"),
    (writing.EVENTS.group, writing.EVENTS.plural, "patch"),
]


@pytest.mark.parametrize("resource", WATCHED, ids=lambda r: r.plural)
@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_cluster_role_lets_the_controller_watch(resource: resources.Resource, verb: str) -> None:
    assert (resource.group, resource.plural, verb) in _granted("ClusterRole")


@pytest.mark.parametrize("grant", WRITES, ids=lambda g: f"{g[2]}-{g[1]}")
def test_cluster_role_lets_the_controller_write(grant: tuple[str, str, str]) -> None:
    assert grant in _granted("ClusterRole")


@pytest.mark.parametrize("verb", ["get", "create", "update"])
def test_leader_election_role_covers_leases(verb: str) -> None:
    assert (writing.LEASES.group, writing.LEASES.plural, verb) in _granted("Role")


def test_deployment_args_parse_with_the_controller_flags() -> None:
    deployment = next(doc for doc in _documents("deployment.yaml") if doc["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    command, *flags = container["args"]
    assert command == "run"
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    parsed = settings.from_args(parser.parse_args(flags), {"POD_NAMESPACE": "argo-rollouts"})
    assert parsed.aws.verify_target_group is True
    assert parsed.aws.ingress_classes == ("alb",)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": parsed.http.metrics_port, "healthz": parsed.http.healthz_port}
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "alb-rollouts"


def test_image_entry_point_is_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["alb-rollouts"]' in dockerfile
    assert "alb-rollouts" in scripts


def test_bluegreen_example_names_its_services_and_routes_the_active_one() -> None:
    documents = _documents("examples/bluegreen/rollout.yaml")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert sorted(by_kind) == ["Ingress", "Rollout", "Service"]
    services = {svc["metadata"]["name"]: svc for svc in by_kind["Service"]}
    (raw,) = by_kind["Rollout"]
    rollout = parsing.parse_rollout(raw)
    assert rollout.blue_green is not None
    blue_green = raw["spec"]["strategy"]["blueGreen"]
    assert {blue_green["activeService"], blue_green["previewService"]} == set(services)
    assert blue_green["autoPromotionEnabled"] is True
    assert validation.validate(rollout, services=services) is None
    (ingress,) = by_kind["Ingress"]
    annotations = ingress["metadata"].get("annotations") or {}
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert not [key for key in annotations if key.startswith("alb.ingress.kubernetes.io/actions.")]
    (path,) = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    backend = path["backend"]["service"]
    assert backend["name"] == blue_green["activeService"]
    active_ports = [port["port"] for port in services[backend["name"]]["spec"]["ports"]]
    assert backend["port"] == {"number": active_ports[0]}
