"""Protobuf request bodies (`application/vnd.kubernetes.protobuf`) decoded into the JSON a real server stores.

Covers: the exact bytes kubectl 1.32 sends for `create namespace`; Go's JSON rules (omitempty scalars left
out, pointers kept even when zero, structs always present, `null` for a nil pointer without omitempty and a
zero Time), maps (strings, base64 bytes, Quantities), IntOrString both ways, negative varints, timestamps, an
inlined struct (Ingress rules); a 400 naming an undecodable field while unset unknown fields are skipped;
415 for kinds without a decoder (custom resources); 400 for a missing prefix or truncated data; and a
protobuf POST over HTTP creating the object.
"""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.apiserver import errors, protobuf

MAGIC = b"k8s\x00"


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    """One field on the wire: a varint for ints, length-delimited for bytes, strings and messages."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def msg(*fields: bytes) -> bytes:
    return b"".join(fields)


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return field(number, msg(field(1, key), field(2, value)))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = msg(field(1, api_version), field(2, kind))
    return MAGIC + msg(field(1, type_meta), field(2, raw), field(3, ""), field(4, ""))


def meta(name: str) -> bytes:
    # gogo-protobuf writes every non-pointer field, set or not, as kubectl's bodies show.
    return field(1, msg(field(1, name), field(2, ""), field(3, ""), field(4, ""), field(5, ""), field(6, ""),
                        field(7, 0), field(8, b"")))


def test_kubectl_create_namespace_body():
    # Captured with `kubectl create namespace shop -v=8`.
    sent = bytes.fromhex(
        "6b 38 73 00 0a 0f 0a 02 76 31 12 09 4e 61 6d 65 73 70 61 63 65 12 1c 0a 14 0a 04 73 68 6f 70 12"
        " 00 1a 00 22 00 2a 00 32 00 38 00 42 00 12 00 1a 02 0a 00 1a 00 22 00"
    )
    assert protobuf.decode(sent) == {
        "kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": "shop", "creationTimestamp": None}, "spec": {}, "status": {},
    }


def test_deployment_follows_go_json_rules():
    quantity = msg(field(1, "500m"))
    container = msg(
        field(1, "web"), field(2, "nginx"), field(3, "sleep"), field(3, "10"),
        field(6, msg(field(3, 80))), field(8, msg(entry(1, "cpu", quantity))), field(16, 0),
    )
    template = msg(field(1, msg(field(8, b""), entry(11, "app", "web"))), field(2, msg(field(2, container))))
    surge = msg(field(1, 1), field(3, "25%"))
    unavailable = msg(field(1, 0), field(2, 0))
    spec = msg(
        field(1, 0), field(2, msg(entry(1, "app", "web"))), field(3, template),
        field(4, msg(field(1, "RollingUpdate"), field(2, msg(field(1, unavailable), field(2, surge))))),
        field(5, 0), field(7, 0),
    )
    body = envelope("apps/v1", "Deployment", msg(meta("web"), field(2, spec), field(3, b"")))
    assert protobuf.decode(body) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "creationTimestamp": None},
        "spec": {
            "replicas": 0,  # a pointer: an explicit zero stays
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx", "command": ["sleep", "10"],
                    "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "500m"}},
                }]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        },
        "status": {},
    }


def test_nil_pointer_without_omitempty_is_null_and_negative_varints():
    spec = msg(field(1, -1), field(3, msg(field(2, msg()))))
    decoded = protobuf.decode(envelope("apps/v1", "Deployment", msg(meta("d"), field(2, spec))))
    assert decoded["spec"]["replicas"] == -1
    assert decoded["spec"]["selector"] is None
    template = {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}
    assert decoded["spec"]["template"] == template
    assert decoded["status"] == {}  # a struct the wire left out is still there, empty


def test_secret_bytes_map_and_zero_pointer():
    raw = msg(meta("s"), entry(2, "p", b"\x00\xffq"), field(3, "Opaque"), field(5, 0))
    assert protobuf.decode(envelope("v1", "Secret", raw)) == {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "creationTimestamp": None},
        "immutable": False, "data": {"p": "AP9x"}, "type": "Opaque",
    }


def test_timestamps_and_inlined_structs():
    status = msg(field(4, msg(field(1, 1767323045))))
    cron = protobuf.decode(envelope("batch/v1", "CronJob", msg(meta("c"), field(3, status))))
    assert cron["status"] == {"lastScheduleTime": "2026-01-02T03:04:05Z"}
    backend = msg(field(4, msg(field(1, "svc"), field(2, msg(field(1, "http"))))))
    path = msg(field(1, "/"), field(2, backend))
    rule = msg(field(1, "foo.com"), field(2, msg(field(1, msg(field(1, path))))))
    spec = msg(field(3, rule))
    ingress = protobuf.decode(envelope("networking.k8s.io/v1", "Ingress", msg(meta("i"), field(2, spec))))
    assert ingress["spec"]["rules"] == [{"host": "foo.com", "http": {"paths": [
        {"path": "/", "pathType": None, "backend": {"service": {"name": "svc", "port": {"name": "http"}}}}]}}]


def test_unknown_fields():
    unset = msg(meta("p"), field(2, msg(field(2, msg(field(1, "c"))), field(18, b""), field(99, 0))))
    decoded = protobuf.decode(envelope("v1", "Pod", unset))
    assert decoded["spec"] == {"containers": [{"name": "c", "resources": {}}]}
    affinity = msg(meta("p"), field(2, msg(field(18, msg(field(1, b"x"))))))
    with pytest.raises(errors.ApiError) as caught:
        protobuf.decode(envelope("v1", "Pod", affinity))
    assert (caught.value.code, caught.value.message) == (400, (
        "the sandbox API server cannot decode field 18 of protobuf message PodSpec; send the object as JSON "
        "(kubectl create ... --dry-run=client -o yaml | kubectl apply -f -)"
    ))


@pytest.mark.parametrize(("body", "code", "message"), [
    pytest.param(envelope("argoproj.io/v1alpha1", "Rollout", b""), 415,
                 "the sandbox API server decodes application/vnd.kubernetes.protobuf only for ConfigMap, "
                 "CronJob, Deployment, Ingress, Job, Namespace, Pod, PodDisruptionBudget, Secret, Service, "
                 "ServiceAccount, not Rollout (argoproj.io/v1alpha1): send application/json",
                 id="custom-kind"),
    pytest.param(b'{"kind": "Namespace"}', 400, "the body of the request is not a valid protobuf object: "
                 "it does not start with the k8s\\x00 prefix", id="no-prefix"),
    pytest.param(MAGIC + b"\x0a\x05ab", 400, "the body of the request is not a valid protobuf object: "
                 "field 1 runs past the end", id="truncated"),
    pytest.param(MAGIC + b"\x0a\x01\x0b", 400, "the body of the request is not a valid protobuf object: "
                 "field 1 has wire type 3", id="group-wire-type"),
])
def test_rejected_bodies(body, code, message):
    with pytest.raises(errors.ApiError) as caught:
        protobuf.decode(body)
    assert (caught.value.code, caught.value.message) == (code, message)


async def test_protobuf_post_over_http(kube_api):
    headers = {"Content-Type": protobuf.PROTOBUF, "Accept": f"{protobuf.PROTOBUF},application/json"}
    body = envelope("v1", "ConfigMap", msg(meta("c"), entry(2, "k", "v")))
    async with aiohttp.ClientSession() as http:
        url = f"{kube_api.url}/api/v1/namespaces/default/configmaps?fieldValidation=Strict"
        async with http.post(url, data=body, headers=headers) as resp:
            assert (resp.status, resp.content_type) == (201, "application/json")
            created = await resp.json()
        rollouts = f"{kube_api.url}/apis/argoproj.io/v1alpha1/namespaces/default/rollouts"
        async with http.post(rollouts, data=envelope("argoproj.io/v1alpha1", "Rollout", b""),
                             headers=headers) as resp:
            assert (resp.status, (await resp.json())["reason"]) == (415, "UnsupportedMediaType")
    assert created["data"] == {"k": "v"}
    assert kube_api.storage.get("configmaps", "default", "c")["data"] == {"k": "v"}
