"""Pod templates: the pod-template hash that names a ReplicaSet, and template equality ignoring that hash.

Room: plan (pure). Works on raw pod-template dicts as the API carries them; never mutates its input, never
raises on any JSON-like value, reads no clock. Used to find (and adopt) the ReplicaSet of a Rollout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from statemachine import models

__all__ = ["SAFE_ALPHABET", "normalise_template", "pod_template_hash", "safe_encode",
           "templates_equal_ignoring_hash"]

# k8s.io/apimachinery/pkg/util/rand: consonants and digits without vowels or look-alikes, so no words appear
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193

# PodSpec defaults the API server writes into a ReplicaSet's template (k8s.io/kubernetes/pkg/apis/core/v1)
_POD_SPEC_DEFAULTS: dict[str, Any] = {
    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
    "terminationGracePeriodSeconds": 30,
}
_CONTAINER_DEFAULTS: dict[str, Any] = {
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
}
_PROBE_DEFAULTS: dict[str, Any] = {
    "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3,
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_DEFAULT_MODE_SOURCES = ("configMap", "secret", "downwardAPI", "projected")
_DEFAULT_MODE = 420  # 0644
# non-pointer Go bools with omitempty: `false` and absent read back the same
_PLAIN_BOOLS = frozenset({"hostNetwork", "hostPID", "hostIPC", "stdin", "stdinOnce", "tty", "readOnly"})
_QUANTITY_MAPS = frozenset({"limits", "requests", "overhead"})
_QUANTITY_FIELDS = frozenset({"sizeLimit", "divisor"})
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_EXPONENT = 100  # "1e999999999" must not turn into a billion-digit number


def pod_template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """The `rollouts-pod-template-hash` for a pod template, ~10 characters of `SAFE_ALPHABET`.

    Shaped like the reference (FNV-32a, the decimal digest through SafeEncodeString, the collision count
    appended as 8 little-endian bytes) but over our canonical JSON of `normalise_template`, not Go's
    encoding of the typed PodTemplateSpec (older releases: spew). Go's bytes depend on struct field order,
    omitempty and defaulting, which a dict cannot reproduce, so our hash differs from the reference's.
    That is harmless: a ReplicaSet is found by template equality, not by name, so taking over from the
    reference (or changing this function) never restarts a pod. `collision_count` 0 adds nothing.
    """
    digest = _fnv32a(_canonical_json(normalise_template(template)).encode("ascii"))
    if collision_count:
        digest = _fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4), digest)
    return safe_encode(str(digest))


def safe_encode(text: str) -> str:
    """SafeEncodeString: each character mapped by its code point into `SAFE_ALPHABET`."""
    return "".join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in text)


def templates_equal_ignoring_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """PodTemplateEqualIgnoreHash: equal once both are normalised (see `normalise_template`).

    Compared as canonical JSON, so equal templates always hash alike (and `true` is not `1`).
    """
    return _canonical_json(normalise_template(a)) == _canonical_json(normalise_template(b))


def normalise_template(template: Any) -> Any:
    """A comparable copy of a pod template: what the reference's defaulting and Semantic.DeepEqual ignore.

    The Rollout's template is stored as written; the ReplicaSet's comes back defaulted by the API server and
    decoded into Go structs. So, on both sides alike:
    - the `rollouts-pod-template-hash` label and `metadata.creationTimestamp` are dropped;
    - PodSpec, container, probe, port (`TCP`), `httpGet.scheme`, `fieldRef.apiVersion` and volume
      `defaultMode` defaults are filled in, and `imagePullPolicy` defaulted from the image tag as the API
      server does; the deprecated `serviceAccount` mirror is dropped (reference issue #1356);
    - null, "", {} and [] values are dropped (Go nil and empty maps/slices compare equal), as are `false`
      for non-pointer bools and `hostPort: 0` (omitempty);
    - quantities compare by value (`0.5` == `500m`, `1024Mi` == `1Gi`);
    - integral floats become ints; anti-affinity terms on the hash label (the reference injects them) go.
    List order is kept: order is meaningful in env, ports and containers.
    """
    if not isinstance(template, Mapping):
        return _clean(template, "")
    result = dict(template)
    metadata = result.get("metadata")
    if isinstance(metadata, Mapping):
        metadata = {k: v for k, v in metadata.items() if k != "creationTimestamp"}
        labels = metadata.get("labels")
        if isinstance(labels, Mapping):
            metadata["labels"] = {k: v for k, v in labels.items() if k != models.POD_TEMPLATE_HASH_LABEL}
        result["metadata"] = metadata
    spec = result.get("spec")
    if isinstance(spec, Mapping):
        result["spec"] = _default_pod_spec(spec)
    return _clean(result, "")


def _default_pod_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    result = _with_defaults(_POD_SPEC_DEFAULTS, {k: v for k, v in spec.items() if k != "serviceAccount"})
    for name in _CONTAINER_LISTS:
        containers = result.get(name)
        if isinstance(containers, list):
            result[name] = [_default_container(c, result.get("hostNetwork") is True) for c in containers]
    volumes = result.get("volumes")
    if isinstance(volumes, list):
        result["volumes"] = [_default_volume(v) for v in volumes]
    affinity = result.get("affinity")
    if isinstance(affinity, Mapping):
        result["affinity"] = _without_injected_anti_affinity(affinity)
    return result


def _default_container(container: Any, host_network: bool) -> Any:
    if not isinstance(container, Mapping):
        return container
    defaults = {**_CONTAINER_DEFAULTS, "imagePullPolicy": _pull_policy(container.get("image"))}
    result = _with_defaults(defaults, container)
    for probe in _PROBES:
        value = result.get(probe)
        if isinstance(value, Mapping):
            result[probe] = _with_defaults(_PROBE_DEFAULTS, value)
    ports = result.get("ports")
    if isinstance(ports, list):
        result["ports"] = [_default_port(p, host_network) for p in ports]
    return result


def _default_port(port: Any, host_network: bool) -> Any:
    if not isinstance(port, Mapping):
        return port
    result = _with_defaults({"protocol": "TCP"}, port)
    if host_network and not result.get("hostPort"):
        result["hostPort"] = result.get("containerPort")
    return result


def _pull_policy(image: Any) -> str:
    """Always for `:latest` or an untagged image without digest, else IfNotPresent (SetDefaults_Container)."""
    if not isinstance(image, str) or not image:
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_volume(volume: Any) -> Any:
    if not isinstance(volume, Mapping):
        return volume
    result = dict(volume)
    for source in _DEFAULT_MODE_SOURCES:
        value = result.get(source)
        if isinstance(value, Mapping):
            result[source] = _with_defaults({"defaultMode": _DEFAULT_MODE}, value)
    return result


def _with_defaults(defaults: Mapping[str, Any], obj: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` with each default filled in where the field is missing or empty (Go's zero value)."""
    result = dict(obj)
    for key, value in defaults.items():
        if _empty(result.get(key)):
            result[key] = value
    return result


def _without_injected_anti_affinity(affinity: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(affinity)
    anti = result.get("podAntiAffinity")
    if not isinstance(anti, Mapping):
        return result
    cleaned = dict(anti)
    for key in ("requiredDuringSchedulingIgnoredDuringExecution",
                "preferredDuringSchedulingIgnoredDuringExecution"):
        terms = cleaned.get(key)
        if isinstance(terms, list):
            cleaned[key] = [t for t in terms if not _selects_hash(t)]
    result["podAntiAffinity"] = cleaned
    return result


def _selects_hash(term: Any) -> bool:
    if not isinstance(term, Mapping):
        return False
    inner = term.get("podAffinityTerm", term)
    selector = inner.get("labelSelector") if isinstance(inner, Mapping) else None
    expressions = selector.get("matchExpressions") if isinstance(selector, Mapping) else None
    if not isinstance(expressions, list):
        return False
    return any(isinstance(e, Mapping) and e.get("key") == models.POD_TEMPLATE_HASH_LABEL for e in expressions)


def _clean(value: Any, key: str) -> Any:
    """Drop empty values, apply generic defaults keyed by field name, canonicalise numbers and quantities."""
    if isinstance(value, Mapping):
        if key in _QUANTITY_MAPS:
            return {str(k): _quantity(v) for k, v in value.items() if not _empty(v)}
        result: dict[str, Any] = {}
        if key == "httpGet":
            result["scheme"] = "HTTP"
        elif key == "fieldRef":
            result["apiVersion"] = "v1"
        for k, v in value.items():
            cleaned = _quantity(v) if k in _QUANTITY_FIELDS else _clean(v, str(k))
            omitted = (k in _PLAIN_BOOLS and cleaned is False) or (k == "hostPort" and cleaned == 0)
            if omitted or _empty(cleaned):
                continue  # a default preset above (scheme, apiVersion) stands in for an empty value
            result[str(k)] = cleaned  # str keys: canonical JSON sorts them
        return result
    if isinstance(value, list):
        return [_clean(item, "") for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | dict | list) and not value)


def _quantity(value: Any) -> Any:
    """A quantity's exact value as a tagged string ("q:1/2"), or the value cleaned as is when unparsable."""
    number: Fraction | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = Fraction(value)
        except (ValueError, OverflowError):
            number = None
    elif isinstance(value, str):
        number = _parse_quantity(value.strip())
    return f"q:{number}" if number is not None else _clean(value, "")


def _parse_quantity(text: str) -> Fraction | None:
    match = _QUANTITY.match(text)
    if match is None:
        return None
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    exponent = _DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:])
    if abs(exponent) > _MAX_EXPONENT:
        return None
    return number * Fraction(10) ** exponent


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _fnv32a(data: bytes, digest: int = _FNV32_OFFSET) -> int:
    for byte in data:
        digest = ((digest ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return digest
