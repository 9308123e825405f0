"""service.client_metrics: controller_clientset_k8s_request_total.

Aspects: the verb read from method, path and query, on the cases of argoproj/pkg's kubeclientmetrics test
(list, get, watch, create, update, patch, delete, cluster and namespaced, dotted names); kind, namespace
and name per verb, incl. a watch of one object and a created object's metadata; /status and /scale
subresources counted against their object; the reference's label folding ("N/A" names for lists and busy
kinds, "Unknown" for other methods) and the exact exposition; rest_client_rate_limiter_duration_seconds
(client-go's name, help, verb and host labels and buckets) and its exposition.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from service import client_metrics
from service.http import metrics

VERBS = [
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces/default/pods", "List", id="pod-list"),
    pytest.param("GET", "https://127.0.0.1/api/v1/pods", "List", id="pod-cluster-list"),
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces/default/pods/pod-name-123456", "Get",
                 id="pod-get"),
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces", "List", id="namespace-list"),
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces/default", "Get", id="namespace-get"),
    pytest.param("GET", "https://127.0.0.1/apis/extensions/v1beta1/namespaces/default/replicasets", "List",
                 id="replicaset-list"),
    pytest.param("GET", "https://127.0.0.1/apis/apps/v1/replicasets", "List", id="replicaset-cluster-list"),
    pytest.param("GET", "https://127.0.0.1/apis/extensions/v1beta1/namespaces/default/replicasets/rs-abc123",
                 "Get", id="replicaset-get"),
    pytest.param("GET", "https://127.0.0.1/apis/networking.istio.io/v1alpha3/namespaces/default/"
                 "virtualservices", "List", id="virtualservice-list"),
    pytest.param("GET", "https://127.0.0.1/apis/rbac.authorization.k8s.io/v1/clusterroles", "List",
                 id="clusterrole-list"),
    pytest.param("GET", "https://127.0.0.1/apis/rbac.authorization.k8s.io/v1/clusterroles/argo-rollouts",
                 "Get", id="clusterrole-get"),
    pytest.param("GET", "https://127.0.0.1/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/"
                 "my-cluster.cluster.k8s.local", "Get", id="dotted-name-get"),
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces?resourceVersion=343003&watch=true", "Watch",
                 id="watch-cluster"),
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces/kube-system/serviceaccounts?"
                 "fieldSelector=metadata.name%3Ddefault&resourceVersion=0&watch=true", "Watch",
                 id="watch-one-namespaced"),
    pytest.param("GET", "https://127.0.0.1/api/v1/namespaces/default/pods?watch=false", "List",
                 id="watch-false-is-list"),
    pytest.param("POST", "https://127.0.0.1/api/v1/namespaces", "Create", id="create"),
    pytest.param("DELETE", "https://127.0.0.1/api/v1/namespaces/test", "Delete", id="delete"),
    pytest.param("PATCH", "https://127.0.0.1/api/v1/namespaces/test", "Patch", id="patch"),
    pytest.param("put", "https://127.0.0.1/api/v1/namespaces/test", "Update", id="update-lowercase-method"),
    pytest.param("HEAD", "https://127.0.0.1/api/v1/namespaces/test", "Unknown", id="unknown"),
]


@pytest.mark.parametrize(("method", "url", "verb"), VERBS)
def test_verb(method: str, url: str, verb: str) -> None:
    assert client_metrics.request_info(method, url).verb == verb


INFOS = [
    pytest.param("GET", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts", None,
                 ("rollouts", "shop", "", "List"), id="list-namespaced"),
    pytest.param("GET", "/apis/argoproj.io/v1alpha1/rollouts", None, ("rollouts", "", "", "List"),
                 id="list-cluster"),
    pytest.param("GET", "/apis/networking.k8s.io/v1/namespaces/shop/ingresses?watch=true&"
                 "fieldSelector=metadata.name%3Dweb", None, ("ingresses", "shop", "web", "Watch"),
                 id="watch-one"),
    pytest.param("GET", "/api/v1/namespaces/shop/services/web", None, ("services", "shop", "web", "Get"),
                 id="get"),
    pytest.param("PATCH", "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web", None,
                 ("ingresses", "shop", "web", "Patch"), id="patch"),
    pytest.param("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status", None,
                 ("rollouts", "shop", "web", "Patch"), id="patch-status-subresource"),
    pytest.param("PUT", "/apis/apps/v1/namespaces/shop/replicasets/web-abc/scale", None,
                 ("replicasets", "shop", "web-abc", "Update"), id="scale-subresource"),
    pytest.param("PUT", "/apis/coordination.k8s.io/v1/namespaces/argo-rollouts/leases/lock", None,
                 ("leases", "argo-rollouts", "lock", "Update"), id="lease-update"),
    pytest.param("DELETE", "/api/v1/namespaces/test", None, ("namespaces", "", "test", "Delete"),
                 id="delete-cluster-scoped"),
    pytest.param("POST", "/api/v1/namespaces/shop/events",
                 {"metadata": {"namespace": "shop", "name": "web.1"}}, ("events", "shop", "web.1", "Create"),
                 id="create-with-metadata"),
    pytest.param("POST", "/apis/apps/v1/namespaces/shop/replicasets", None, ("replicasets", "", "", "Create"),
                 id="create-without-body"),
    pytest.param("POST", "/api/v1/namespaces/shop/events", {"metadata": "odd"}, ("events", "", "", "Create"),
                 id="create-odd-metadata"),
    pytest.param("OPTIONS", "/api/v1/namespaces/shop/pods/x", None, ("", "", "", "Unknown"), id="unknown"),
    pytest.param("GET", "/healthz", None, ("", "", "healthz", "Get"), id="not-an-api-path"),
]


@pytest.mark.parametrize(("method", "url", "created", "expected"), INFOS)
def test_request_info(method: str, url: str, created: dict[str, Any] | None,
                      expected: tuple[str, str, str, str]) -> None:
    info = client_metrics.request_info(method, "https://kube:6443" + url, created=created)
    assert (info.kind, info.namespace, info.name, info.verb) == expected


def test_folding_and_exposition() -> None:
    registry = CollectorRegistry()
    counter = client_metrics.KubeClientMetrics(registry)
    counter.observe("GET", "https://k/apis/apps/v1/namespaces/default/replicasets", 200)
    counter.observe("GET", "https://k/apis/apps/v1/namespaces/default/replicasets/rs-1", 200)
    counter.observe("PATCH", "https://k/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web", 409)
    counter.observe("PATCH", "https://k/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web", 409)
    counter.observe("POST", "https://k/api/v1/namespaces/shop/events", 201,
                    created={"metadata": {"namespace": "shop", "name": "web.17"}})
    counter.observe("GET", "https://k/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts?watch=true", 200)
    counter.observe("TRACE", "https://k/anything", 0)
    assert metrics.render(registry).decode() == (
        "# HELP controller_clientset_k8s_request_total Number of kubernetes requests executed during "
        "application reconciliation.\n"
        "# TYPE controller_clientset_k8s_request_total counter\n"
        'controller_clientset_k8s_request_total{kind="Unknown",name="Unknown",namespace="Unknown",'
        'status_code="0",verb="Unknown"} 1\n'
        'controller_clientset_k8s_request_total{kind="events",name="N/A",namespace="shop",status_code="201",'
        'verb="Create"} 1\n'
        'controller_clientset_k8s_request_total{kind="ingresses",name="web",namespace="shop",status_code="409",'
        'verb="Patch"} 2\n'
        'controller_clientset_k8s_request_total{kind="replicasets",name="N/A",namespace="default",'
        'status_code="200",verb="Get"} 1\n'
        'controller_clientset_k8s_request_total{kind="replicasets",name="N/A",namespace="default",'
        'status_code="200",verb="List"} 1\n'
        'controller_clientset_k8s_request_total{kind="rollouts",name="",namespace="shop",status_code="200",'
        'verb="Watch"} 1\n'
    )


@pytest.mark.parametrize("kind", ["events", "replicasets", "analysisruns", "jobs", "experiments"])
def test_busy_kinds_have_no_name(kind: str) -> None:
    registry = CollectorRegistry()
    client_metrics.KubeClientMetrics(registry).count(
        client_metrics.RequestInfo(kind, "ns", "object-1", "Get"), 200)
    assert f'kind="{kind}",name="N/A",namespace="ns",status_code="200",verb="Get"}} 1' in (
        metrics.render(registry).decode())


def test_rate_limiter_waits_histogram() -> None:
    registry = CollectorRegistry()
    recorder = client_metrics.KubeClientMetrics(registry)
    recorder.observe_rate_limiter("patch", "https://kube:6443/api/v1/namespaces/shop/services/web", 0.2)
    recorder.observe_rate_limiter("PATCH", "https://kube:6443/api/v1/namespaces/shop/services/api", 0.0)
    labels = {"verb": "PATCH", "host": "kube:6443"}
    name = "rest_client_rate_limiter_duration_seconds"
    assert registry.get_sample_value(f"{name}_count", labels) == 2
    assert registry.get_sample_value(f"{name}_sum", labels) == 0.2
    assert registry.get_sample_value(f"{name}_bucket", {**labels, "le": "0.005"}) == 1
    assert registry.get_sample_value(f"{name}_bucket", {**labels, "le": "0.25"}) == 2
    text = metrics.render(registry).decode()
    assert ("# HELP rest_client_rate_limiter_duration_seconds Client side rate limiter latency in seconds. "
            "Broken down by verb, and host.\n"
            "# TYPE rest_client_rate_limiter_duration_seconds histogram\n") in text
    assert 'rest_client_rate_limiter_duration_seconds_bucket{host="kube:6443",verb="PATCH",le="60"} 2' in text
