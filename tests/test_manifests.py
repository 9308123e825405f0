"""The install manifests in k8s/base/ and the Dockerfile agree with the code (read as files:
tests/test_kustomize.py checks that kustomize renders these very objects, tests/e2e/test_least_privilege.py
that the roles grant exactly what the controller asks for).

Aspects: kustomization.yaml lists every manifest of the directory; the ClusterRole lets the controller list
and watch every resource it caches and make every request `service.kube.writing.KubeWriter` can send (pods
included), with no wildcard and nothing but `get` on Secrets; the leader-election Role covers Leases in the
controller's namespace; the ServiceAccount carries the IRSA annotation placeholder and both bindings and the
Deployment name it; the Deployment's args parse with the controller's own flag parser (leader election and
target verification on), 2 replicas, POD_NAME/POD_NAMESPACE from the downward API, probes on the healthz
port's /healthz and /readyz, ports equal to the flag defaults, non-root, read-only root filesystem, no
privilege escalation, all capabilities dropped, seccomp RuntimeDefault, CPU and memory requests and limits;
the metrics Service, PodDisruptionBudget and NetworkPolicy select the Deployment's pods, the Service on 8090,
the NetworkPolicy letting in only the metrics and probe ports and out only DNS and 443; every object but the
Namespace carries the app label the uninstall commands select by; the image's entry point is the console
script pyproject.toml declares.
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

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "k8s" / "base"
NAMESPACE = "argo-rollouts"
APP = {"app.kubernetes.io/name": "alb-rollouts"}


def base_objects() -> list[dict[str, Any]]:
    """Every object of k8s/base/'s manifests, as the files hold them."""
    return [doc for path in sorted(BASE.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(kind: str, objects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    (found,) = [doc for doc in (base_objects() if objects is None else objects) if doc["kind"] == kind]
    return found


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(group, resource, verb) triples a Role or ClusterRole grants."""
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (found,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(found)


def parsed_args(deployment: dict[str, Any]) -> settings.Settings:
    command, *flags = container(deployment)["args"]
    assert command == "run"
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    return settings.from_args(parser.parse_args(flags), {"POD_NAMESPACE": NAMESPACE})


WATCHED = resources.watched()
WRITES = [
    ("argoproj.io", "rollouts", "get"),
    ("argoproj.io", "rollouts", "patch"),
    ("argoproj.io", "rollouts/status", "patch"),
    ("apps", "replicasets", "create"),
    ("apps", "replicasets", "get"),
    ("apps", "replicasets", "patch"),
    ("apps", "replicasets", "delete"),
    ("apps", "deployments", "update"),
    ("", "services", "patch"),
    ("networking.k8s.io", "ingresses", "patch"),
    (writing.EVENTS.group, writing.EVENTS.plural, "create"),
    (writing.EVENTS.group, writing.EVENTS.plural, "patch"),
    (writing.PODS.group, writing.PODS.plural, "list"),
    (writing.PODS.group, writing.PODS.plural, "patch"),
    (writing.PODS.group, "pods/eviction", "create"),
    ("argoproj.io", "analysisruns", "create"),
    ("argoproj.io", "analysisruns", "patch"),
    ("argoproj.io", "analysisruns", "delete"),
    ("argoproj.io", "analysisruns/status", "patch"),
    (writing.SECRETS.group, writing.SECRETS.plural, "get"),
]


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    files = sorted(path.name for path in BASE.glob("*.yaml") if path.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    assert kustomization["namespace"] == NAMESPACE


@pytest.mark.parametrize("resource", WATCHED, ids=lambda r: r.plural)
@pytest.mark.parametrize("verb", ["list", "watch"])
def test_cluster_role_lets_the_controller_watch(resource: resources.Resource, verb: str) -> None:
    assert (resource.group, resource.plural, verb) in granted(one("ClusterRole"))


@pytest.mark.parametrize("grant", WRITES, ids=lambda g: f"{g[2]}-{g[1]}")
def test_cluster_role_lets_the_controller_write(grant: tuple[str, str, str]) -> None:
    assert grant in granted(one("ClusterRole"))


def test_cluster_role_grants_no_wildcard_and_reads_secrets_one_by_one() -> None:
    grants = granted(one("ClusterRole"))
    assert not [grant for grant in grants if "*" in grant]
    assert {verb for group, resource, verb in grants if (group, resource) == ("", "secrets")} == {"get"}


@pytest.mark.parametrize("verb", ["get", "create", "update"])
def test_leader_election_role_covers_leases(verb: str) -> None:
    role = one("Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert (writing.LEASES.group, writing.LEASES.plural, verb) in granted(role)


def test_the_service_account_is_bound_and_annotated_for_irsa() -> None:
    objects = base_objects()
    account = one("ServiceAccount", objects)
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    subject = {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(kind, objects)
        assert binding["subjects"] == [subject]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                      "name": one(role_kind, objects)["metadata"]["name"]}
    pod = one("Deployment", objects)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_deployment_args_parse_with_the_controller_flags() -> None:
    parsed = parsed_args(one("Deployment"))
    assert parsed.aws.verify_target_group is True
    assert parsed.aws.ingress_classes == ("alb",)
    assert parsed.leader.elect is True
    assert parsed.leader.namespace == NAMESPACE


def test_deployment_runs_two_replicas_with_the_downward_api_and_probes() -> None:
    deployment = one("Deployment")
    parsed = parsed_args(deployment)
    main = container(deployment)
    assert deployment["spec"]["replicas"] == 2
    env = {item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"] for item in main["env"]}
    assert env == {"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"metrics": parsed.http.metrics_port, "healthz": parsed.http.healthz_port}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}


def test_deployment_is_hardened_and_sized() -> None:
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    assert {"cpu", "memory"} <= set(main["resources"]["limits"])


def test_service_pdb_and_network_policy_select_the_controller_pods() -> None:
    objects = base_objects()
    deployment = one("Deployment", objects)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == APP
    assert APP.items() <= labels.items()
    service = one("Service", objects)
    assert service["spec"]["selector"] == APP
    assert service["spec"]["ports"] == [{"name": "metrics", "protocol": "TCP", "port": 8090,
                                         "targetPort": "metrics"}]
    budget = one("PodDisruptionBudget", objects)
    assert budget["spec"]["selector"]["matchLabels"] == APP
    assert budget["spec"]["maxUnavailable"] == 1
    policy = one("NetworkPolicy", objects)
    assert policy["spec"]["podSelector"]["matchLabels"] == APP
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]


def test_network_policy_lets_in_metrics_and_probes_and_out_dns_and_https() -> None:
    objects = base_objects()
    parsed = parsed_args(one("Deployment", objects))
    spec = one("NetworkPolicy", objects)["spec"]
    ingress_ports = {(port["protocol"], port["port"]) for rule in spec["ingress"] for port in rule["ports"]}
    assert ingress_ports == {("TCP", parsed.http.metrics_port), ("TCP", parsed.http.healthz_port)}
    egress_ports = {(port["protocol"], port["port"]) for rule in spec["egress"] for port in rule["ports"]}
    assert egress_ports == {("TCP", 443), ("UDP", 53), ("TCP", 53)}
    (https,) = [rule for rule in spec["egress"] if rule["ports"] == [{"protocol": "TCP", "port": 443}]]
    assert "to" not in https  # the API server's and AWS's addresses are not fixed


def test_every_object_but_the_namespace_carries_the_app_label() -> None:
    for doc in base_objects():
        if doc["kind"] != "Namespace":
            assert APP.items() <= (doc["metadata"].get("labels") or {}).items(), doc["kind"]


def test_image_entry_point_is_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["alb-rollouts"]' in dockerfile
    assert "alb-rollouts" in scripts
