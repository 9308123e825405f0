"""Resources: collection paths for core and grouped kinds, namespaced and cluster-wide (namespace quoted; a
cluster-scoped kind never names one), apiVersion and kubectl names, the TargetGroupBinding version flag, the
watched list (analysis kinds included), the instance-id selector."""

from __future__ import annotations

import pytest

from service.kube import resources


@pytest.mark.parametrize(
    ("resource", "namespace", "path"),
    [
        pytest.param(resources.SERVICES, "team", "/api/v1/namespaces/team/services", id="core-namespaced"),
        pytest.param(resources.SERVICES, None, "/api/v1/services", id="core-all"),
        pytest.param(resources.ROLLOUTS, "a b", "/apis/argoproj.io/v1alpha1/namespaces/a%20b/rollouts",
                     id="grouped-quoted"),
        pytest.param(resources.INGRESSES, None, "/apis/networking.k8s.io/v1/ingresses", id="grouped-all"),
        pytest.param(resources.CLUSTER_ANALYSIS_TEMPLATES, "team",
                     "/apis/argoproj.io/v1alpha1/clusteranalysistemplates", id="cluster-scoped"),
    ],
)
def test_collection_path(resource: resources.Resource, namespace: str | None, path: str) -> None:
    assert resource.collection_path(namespace) == path


def test_names() -> None:
    assert (resources.SERVICES.api_version, resources.SERVICES.name) == ("v1", "services")
    rs = resources.REPLICA_SETS
    assert (rs.api_version, rs.name) == ("apps/v1", "replicasets.apps")


def test_target_group_binding_version_is_configurable() -> None:
    assert resources.target_group_bindings().api_version == "elbv2.k8s.aws/v1beta1"
    assert resources.target_group_bindings("elbv2.k8s.aws/v1").collection_path("x") == (
        "/apis/elbv2.k8s.aws/v1/namespaces/x/targetgroupbindings"
    )


@pytest.mark.parametrize("bad", ["v1", "/v1", "elbv2.k8s.aws/", "a/b/c", ""])
def test_target_group_binding_version_must_be_group_version(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^TargetGroupBinding API version must be GROUP/VERSION, got "):
        resources.target_group_bindings(bad)


def test_watched() -> None:
    core = ["rollouts.argoproj.io", "ingresses.networking.k8s.io", "services",
            "endpointslices.discovery.k8s.io", "replicasets.apps", "deployments.apps",
            "analysisruns.argoproj.io", "analysistemplates.argoproj.io",
            "clusteranalysistemplates.argoproj.io"]
    with_bindings = resources.watched("elbv2.k8s.aws/v1")
    assert [r.name for r in with_bindings] == [*core, "targetgroupbindings.elbv2.k8s.aws"]
    assert with_bindings[-1].version == "v1"
    assert [r.name for r in resources.watched(None)] == core


@pytest.mark.parametrize(
    ("instance_id", "selector"),
    [
        pytest.param(None, "!argo-rollouts.argoproj.io/controller-instance-id", id="none"),
        pytest.param("", "!argo-rollouts.argoproj.io/controller-instance-id", id="empty"),
        pytest.param("blue", "argo-rollouts.argoproj.io/controller-instance-id=blue", id="set"),
    ],
)
def test_instance_selector(instance_id: str | None, selector: str) -> None:
    assert resources.instance_selector(instance_id) == selector
