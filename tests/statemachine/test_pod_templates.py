"""Pod-template hash and template equality ignoring the hash.

Aspects: the hash is stable (key order, hash label, API-server defaulting), changes with the template and the
collision count, uses only the safe alphabet; FNV-32a and SafeEncodeString match their published values;
equality ignores the hash label and the API server's defaulting (pod, container, probe, port, volume defaults,
imagePullPolicy from the tag, quantities by value, empty vs missing, omitempty bools, injected anti-affinity)
but not real differences (pointer bools, explicit zeros, order, a bool for an int); equal templates hash
alike; hypothesis: the hash never raises on a JSON-like template, is deterministic, normalising never
mutates its input, and the hash label, creationTimestamp and key order never change equality or the hash.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import pod_templates
from statemachine.pod_templates import SAFE_ALPHABET, pod_template_hash, templates_equal_ignoring_hash

HASH = "rollouts-pod-template-hash"


def raw(**container: Any) -> dict[str, Any]:
    """A Rollout's pod template as a user writes it."""
    return {"metadata": {"labels": {"app": "demo"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25", **container}]}}


def defaulted(pod_hash: str = "7bb4fbc896", **container: Any) -> dict[str, Any]:
    """The same template as the API server returns it inside a ReplicaSet the reference created."""
    return {
        "metadata": {"creationTimestamp": None, "labels": {"app": "demo", HASH: pod_hash}},
        "spec": {
            "containers": [{"image": "nginx:1.25", "imagePullPolicy": "IfNotPresent", "name": "web",
                            "resources": {}, "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File", **container}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {}, "terminationGracePeriodSeconds": 30,
        },
    }


def with_spec(template: dict[str, Any], **spec: Any) -> dict[str, Any]:
    result = copy.deepcopy(template)
    result["spec"].update(spec)
    return result


PROBE = {"httpGet": {"path": "/healthz", "port": 8080}}
PROBE_DEFAULTED = {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
FIELD_ENV = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
FIELD_ENV_DEFAULTED = [{"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                  "fieldPath": "metadata.name"}}}]
INJECTED_TERM = {"labelSelector": {"matchExpressions": [{"key": HASH, "operator": "In", "values": ["abc"]}]},
                 "topologyKey": "kubernetes.io/hostname"}
ANTI = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 1, "podAffinityTerm": INJECTED_TERM}]}}
USER_ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone"}]}}
ALWAYS = "Always"

EQUAL = [
    pytest.param(raw(), raw(), id="identical"),
    pytest.param(raw(), defaulted(), id="reference-rs-defaulted-by-api-server"),
    pytest.param(defaulted("aaa"), defaulted("bbb"), id="hash-label-values-differ"),
    pytest.param({"metadata": {"labels": {"app": "demo", HASH: "x"}}, "spec": {}},
                 {"metadata": {"labels": {"app": "demo"}}, "spec": {}}, id="hash-label-only-one-side"),
    pytest.param(raw(image="nginx"), defaulted(image="nginx", imagePullPolicy=ALWAYS), id="untagged-always"),
    pytest.param(raw(image="nginx:latest"), defaulted(image="nginx:latest", imagePullPolicy="Always"),
                 id="latest-always"),
    pytest.param(raw(image="nginx@sha256:ab"), defaulted(image="nginx@sha256:ab"),
                 id="digest-if-not-present"),
    pytest.param(raw(image="reg:5000/nginx"), defaulted(image="reg:5000/nginx", imagePullPolicy="Always"),
                 id="registry-port-is-not-a-tag"),
    pytest.param(raw(resources={"requests": {"cpu": "0.5", "memory": "1Gi"}}),
                 defaulted(resources={"requests": {"cpu": "500m", "memory": "1024Mi"}}),
                 id="quantities-by-value"),
    pytest.param(raw(resources={"limits": {"cpu": 1}}), defaulted(resources={"limits": {"cpu": "1"}}),
                 id="quantity-number-vs-string"),
    pytest.param(raw(resources={"limits": {"memory": "1e3"}}),
                 defaulted(resources={"limits": {"memory": "1k"}}),
                 id="quantity-exponent"),
    pytest.param(raw(ports=[{"containerPort": 80}]),
                 defaulted(ports=[{"containerPort": 80, "protocol": "TCP"}]),
                 id="port-protocol-tcp"),
    pytest.param(raw(livenessProbe=PROBE), defaulted(livenessProbe=PROBE_DEFAULTED), id="probe-defaults"),
    pytest.param(raw(env=FIELD_ENV), defaulted(env=FIELD_ENV_DEFAULTED), id="field-ref-api-version"),
    pytest.param(raw(stdin=False, tty=False), defaulted(), id="omitempty-bools-false"),
    pytest.param(raw(env=[]), defaulted(), id="empty-list-vs-missing"),
    pytest.param({**raw(), "metadata": {"labels": {"app": "demo"}, "annotations": {}}}, defaulted(),
                 id="empty-map-vs-missing"),
    pytest.param(raw(command=None), defaulted(), id="null-vs-missing"),
    pytest.param(with_spec(raw(), serviceAccountName="sa"),
                 with_spec(defaulted(), serviceAccountName="sa", serviceAccount="sa"),
                 id="deprecated-service-account"),
    pytest.param(with_spec(raw(), hostNetwork=False), defaulted(), id="host-network-false"),
    pytest.param(with_spec(raw(ports=[{"containerPort": 80}]), hostNetwork=True),
                 with_spec(defaulted(ports=[{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}]),
                           hostNetwork=True), id="host-network-host-port"),
    pytest.param(with_spec(raw(), volumes=[{"name": "c", "configMap": {"name": "c"}}]),
                 with_spec(defaulted(),
                           volumes=[{"name": "c", "configMap": {"name": "c", "defaultMode": 420}}]),
                 id="volume-default-mode"),
    pytest.param(with_spec(raw(), terminationGracePeriodSeconds=30.0), defaulted(), id="integral-float"),
    pytest.param(with_spec(raw(), restartPolicy=""), defaulted(), id="empty-string-takes-default"),
    pytest.param(raw(), with_spec(defaulted(), affinity=ANTI), id="injected-anti-affinity"),
]

DIFFERENT = [
    pytest.param(raw(), raw(image="nginx:1.26"), id="image"),
    pytest.param(raw(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
                 raw(env=[{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]), id="env-order"),
    pytest.param(raw(), {**raw(), "metadata": {"labels": {"app": "demo", "tier": "web"}}}, id="extra-label"),
    pytest.param(raw(securityContext={"allowPrivilegeEscalation": False}), raw(), id="pointer-bool-false"),
    pytest.param(with_spec(raw(), terminationGracePeriodSeconds=0), raw(), id="explicit-zero-grace"),
    pytest.param(raw(image="nginx:1.25", imagePullPolicy="Always"), defaulted(), id="explicit-pull-policy"),
    pytest.param(raw(resources={"requests": {"cpu": "0.5"}}), raw(resources={"requests": {"cpu": "0.6"}}),
                 id="quantity-value"),
    pytest.param(raw(), with_spec(raw(), affinity=USER_ANTI), id="user-anti-affinity"),
    pytest.param(raw(stdin=True), raw(stdin=1), id="bool-is-not-int"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_templates(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert templates_equal_ignoring_hash(a, b)
    assert templates_equal_ignoring_hash(b, a)
    assert pod_template_hash(a) == pod_template_hash(b)  # equal templates hash alike


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_templates(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert not templates_equal_ignoring_hash(a, b)
    assert not templates_equal_ignoring_hash(b, a)
    assert pod_template_hash(a) != pod_template_hash(b)


def test_hash_ignores_key_order() -> None:
    template = raw(env=[{"name": "A", "value": "1"}], resources={"limits": {"cpu": "1", "memory": "1Gi"}})
    reordered = json.loads(json.dumps(template), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert list(reordered) != list(template)
    assert pod_template_hash(reordered) == pod_template_hash(template)


def test_collision_count_changes_the_hash() -> None:
    template = raw()
    hashes = {pod_template_hash(template, n) for n in (0, 1, 2, 2**32 - 1)}
    assert len(hashes) == 4
    assert pod_template_hash(template, 0) == pod_template_hash(template)
    assert pod_template_hash(template, 1) == pod_template_hash(template, 1)


def test_hash_uses_only_the_safe_alphabet() -> None:
    value = pod_template_hash(raw())
    assert 1 <= len(value) <= 10
    assert set(value) <= set(SAFE_ALPHABET)
    assert SAFE_ALPHABET == "bcdfghjklmnpqrstvwxz2456789"


def test_safe_encode_maps_digits_like_kubernetes() -> None:
    assert pod_templates.safe_encode("0123456789") == "456789bcdf"


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param(b"", 0x811C9DC5, id="empty"),
    pytest.param(b"a", 0xE40C292C, id="a"),
    pytest.param(b"foobar", 0xBF9CF968, id="foobar"),
])
def test_fnv32a_published_vectors(data: bytes, expected: int) -> None:
    assert pod_templates._fnv32a(data) == expected


def test_non_string_keys_do_not_break_the_hash() -> None:
    template: dict[Any, Any] = {"metadata": {"labels": {"app": "demo"}}, "spec": {1: "x", "a": {2: "y"}}}
    assert set(pod_template_hash(template)) <= set(SAFE_ALPHABET)
    assert templates_equal_ignoring_hash(template, copy.deepcopy(template))


def test_normalise_does_not_mutate() -> None:
    template = with_spec(raw(livenessProbe=PROBE, ports=[{"containerPort": 80}]), hostNetwork=True,
                         volumes=[{"name": "s", "secret": {"secretName": "s"}}], affinity=ANTI)
    before = copy.deepcopy(template)
    pod_templates.normalise_template(template)
    assert template == before


@pytest.mark.parametrize("value", [
    pytest.param("1e999999999", id="huge-exponent"),
    pytest.param("lots", id="not-a-quantity"),
    pytest.param(float("inf"), id="infinite"),
    pytest.param(True, id="bool"),
])
def test_odd_quantities_compare_as_written(value: Any) -> None:
    template = raw(resources={"limits": {"cpu": value}})
    assert templates_equal_ignoring_hash(template, copy.deepcopy(template))
    assert pod_template_hash(template) == pod_template_hash(copy.deepcopy(template))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from([
    "containers", "initContainers", "volumes", "affinity", "hostNetwork", "ports", "image", "livenessProbe",
    "httpGet", "fieldRef", "resources", "limits", "sizeLimit", "labels", "podAntiAffinity", "configMap",
    "metadata", "spec", HASH,
])
POD_LIKE = st.recursive(
    JSON, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(template=st.dictionaries(KEYS | st.text(max_size=4), POD_LIKE, max_size=4), collisions=st.integers())
def test_hash_never_raises_and_is_deterministic(template: dict[str, Any], collisions: int) -> None:
    before = copy.deepcopy(template)
    first = pod_template_hash(template, collisions)
    assert first == pod_template_hash(copy.deepcopy(template), collisions)
    assert set(first) <= set(SAFE_ALPHABET)
    assert 1 <= len(first) <= 10
    assert templates_equal_ignoring_hash(template, copy.deepcopy(template))
    assert template == before


def _reordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


LABELS = st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=6), max_size=3)


@settings(max_examples=200, deadline=None)
@given(labels=LABELS, spec=POD_LIKE, pod_hash=st.text(max_size=10))
def test_hash_label_timestamp_and_key_order_never_matter(labels: dict[str, str], spec: Any,
                                                         pod_hash: str) -> None:
    template = {"metadata": {"labels": labels}, "spec": spec}
    labelled = _reordered(copy.deepcopy(template))
    labelled["metadata"]["labels"][HASH] = pod_hash
    labelled["metadata"]["creationTimestamp"] = None
    assert templates_equal_ignoring_hash(labelled, template)
    assert pod_template_hash(labelled) == pod_template_hash(template)
