"""`controller_clientset_k8s_request_total` (every Kubernetes API request) and the --qps/--burst waits.

Room: serve (metrics). The name, help and labels are argo-rollouts' (controller/metrics/client.go); the verb,
kind, namespace and name are read from the request URL as argoproj/pkg's kubeclientmetrics reads them, and
the same label values are folded ("N/A" names for lists and busy kinds, "Unknown" for odd methods). One
difference: a `/status` or `/scale` subresource is counted against its object, where the reference shifts
every label by one segment. It never sees request bodies except the created object's metadata.

`rest_client_rate_limiter_duration_seconds` (a histogram labelled `verb`, the HTTP method, and `host`, the API
server's host:port; client-go's name, help and buckets from k8s.io/component-base's restclient metrics) is
how long each request waited for a token of the --qps/--burst limiter (`service.kube.throttling`) before it
was sent; a WATCH counts once, when its stream starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["RATE_LIMITER_BUCKETS", "KubeClientMetrics", "RequestInfo", "request_info"]

_AFTER_VERSION = re.compile(r"/v\d\w*?(/[a-zA-Z0-9-]*)(/[a-zA-Z0-9-]*)?(/[a-zA-Z0-9-]*)?(/[a-zA-Z0-9-]*)?")
_NAMESPACED = re.compile(r"/.*/namespaces/[a-z0-9-]+/[a-z0-9-]+(/[a-z0-9-]+)?")
_VERBS = {"POST": "Create", "DELETE": "Delete", "PATCH": "Patch", "PUT": "Update"}
_SUBRESOURCES = ("status", "scale")
# Kinds whose object names would make too many series (client.go); lists have no name at all.
_NAMELESS_KINDS = frozenset({"events", "replicasets", "analysisruns", "jobs", "experiments"})
RATE_LIMITER_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
"""client-go's buckets for `rest_client_rate_limiter_duration_seconds`, in seconds."""


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What one request was about, before the reference's label folding."""

    kind: str
    """Plural resource, e.g. "rollouts" or "ingresses"."""
    namespace: str
    """The object's namespace; "" for cluster-wide requests."""
    name: str
    """The object's name; "" for lists and watches of many."""
    verb: str
    """List, Watch, Get, Create, Update, Patch, Delete or Unknown."""


def _get_verb(path: str, query: Mapping[str, list[str]]) -> str:
    # Collections leave an odd number of the four path groups after the version unused; objects an even one.
    match = _AFTER_VERSION.search(path)
    unused = sum(1 for group in match.groups() if group is None) if match else 0
    if unused % 2 == 1:
        return "Watch" if query.get("watch", [""])[0] == "true" else "List"
    return "Get"


def request_info(method: str, url: str, *, created: Mapping[str, Any] | None = None) -> RequestInfo:
    """Kind, namespace, name and verb of a request; `created` is a POST's object (for its metadata)."""
    parts = urlsplit(url)
    path, query = parts.path, parse_qs(parts.query)
    method = method.upper()
    verb = _get_verb(path, query) if method == "GET" else _VERBS.get(method, "Unknown")
    segments = path.split("/")
    if verb in ("Get", "Delete", "Patch", "Update") and len(segments) > 3 and segments[-1] in _SUBRESOURCES:
        segments = segments[:-1]
    namespaced = _NAMESPACED.search("/".join(segments)) is not None
    if verb in ("List", "Watch"):
        name = ""
        if verb == "Watch":
            selectors = [s for s in query.get("fieldSelector", []) if s.startswith("metadata.name=")]
            name = selectors[0].removeprefix("metadata.name=") if selectors else ""
        return RequestInfo(segments[-1], segments[-2] if namespaced else "", name, verb)
    if verb == "Create":
        metadata = (created or {}).get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        return RequestInfo(segments[-1], str(metadata.get("namespace", "")), str(metadata.get("name", "")),
                           verb)
    if verb == "Unknown" or len(segments) < 2:
        return RequestInfo("", "", "", "Unknown")
    return RequestInfo(segments[-2], segments[-3] if namespaced and len(segments) > 2 else "", segments[-1],
                       verb)


class KubeClientMetrics:
    """Counts Kubernetes API requests by kind, namespace, name, verb and status code; times limiter waits."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "controller_clientset_k8s_request_total",
            "Number of kubernetes requests executed during application reconciliation.",
            ("kind", "namespace", "name", "verb", "status_code"),
            registry=registry,
        )
        self.rate_limiter_waits = Histogram(
            "rest_client_rate_limiter_duration_seconds",
            "Client side rate limiter latency in seconds. Broken down by verb, and host.",
            ("verb", "host"),
            buckets=RATE_LIMITER_BUCKETS,
            registry=registry,
        )

    def count(self, info: RequestInfo, status_code: int) -> None:
        """One request and its HTTP status (0 when no answer came), folded as IncKubernetesRequest does."""
        kind, namespace, name = info.kind, info.namespace, info.name
        if info.verb == "List" or kind in _NAMELESS_KINDS:
            name = "N/A"
        if info.verb == "Unknown":
            kind = namespace = name = "Unknown"
        self.requests.labels(kind, namespace, name, info.verb, str(status_code)).inc()

    def observe(self, method: str, url: str, status_code: int, *,
                created: Mapping[str, Any] | None = None) -> None:
        """Count a request given as the HTTP client saw it."""
        self.count(request_info(method, url, created=created), status_code)

    def observe_rate_limiter(self, method: str, url: str, seconds: float) -> None:
        """How long a request (`method` `url`) waited for its --qps/--burst token (0: none was needed)."""
        self.rate_limiter_waits.labels(method.upper(), urlsplit(url).netloc).observe(max(0.0, seconds))
