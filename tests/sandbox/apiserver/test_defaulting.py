"""API-server defaults on write: namespace and pod phases, a Service's cluster IP (unique, kept across a
replace that leaves it out), port protocol and targetPort (on create and update, without bumping generation),
ExternalName Services without a cluster IP, and a CRD's accepted names and conditions."""

from __future__ import annotations

from kubernetes_asyncio import client

from sandbox.apiserver.storage import Storage


def _service(name: str = "web", **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": {"selector": {"app": name}, **spec}}


async def test_service_defaults_through_the_api(api_client):
    core = client.CoreV1Api(api_client)
    made = await core.create_namespaced_service("default", _service(ports=[{"name": "http", "port": 80}]))
    other = await core.create_namespaced_service("default", _service("api", ports=[{"port": 81}]))
    assert made.spec.type == "ClusterIP"
    assert made.spec.cluster_ip != other.spec.cluster_ip and made.spec.cluster_ips == [made.spec.cluster_ip]
    assert [(p.protocol, p.target_port) for p in made.spec.ports] == [("TCP", 80)]
    body = {"metadata": {"name": "web", "resourceVersion": made.metadata.resource_version},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    replaced = await core.replace_namespaced_service("web", "default", body)
    assert replaced.spec.cluster_ip == made.spec.cluster_ip
    assert [(p.protocol, p.target_port) for p in replaced.spec.ports] == [("TCP", "http")]


def test_defaults_do_not_count_as_spec_changes():
    s = Storage()
    made = s.create("services", _service(ports=[{"port": 80}]))
    same = s.merge_patch("services", "default", "web", {"spec": {"ports": [{"port": 80}]}})
    assert same["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    assert same["metadata"]["generation"] == 1


def test_external_name_service_gets_no_cluster_ip():
    s = Storage()
    made = s.create("services", _service(type="ExternalName", externalName="example.com"))
    assert "clusterIP" not in made["spec"]


def test_phases_and_crd_status():
    s = Storage()
    assert s.get("namespaces", None, "default")["status"] == {"phase": "Active"}
    pod = s.create("pods", {"metadata": {"name": "p"}, "spec": {"containers": []}})
    assert pod["status"] == {"phase": "Pending"}
    crd = s.create("customresourcedefinitions.apiextensions.k8s.io", {
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True}]},
    })
    status = crd["status"]
    assert status["acceptedNames"] == {"plural": "widgets", "kind": "Widget"}
    assert status["storedVersions"] == ["v1"]
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [("NamesAccepted", "True"),
                                                                        ("Established", "True")]
