"""LBC simulator, model-building room: turns the cluster's Ingresses, Services and endpoints into models.

Pure and synchronous: it reads a `ClusterView` of plain dicts and never writes to storage or AWS.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from sandbox.lbc import models, parsing
from sandbox.lbc.views import ClusterView, Lookups
from sandbox.lbc.views import meta as _meta
from sandbox.lbc.views import named as _named

__all__ = [
    "ALB_CONTROLLER",
    "ClusterView",
    "Lookups",
    "build_stacks",
    "is_alb_ingress",
    "plan_bindings",
    "service_targets",
]

ALB_CONTROLLER = "ingress.k8s.aws/alb"
_GROUP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_NO_ACTION = "Backend action does not exist"
_NO_SERVICE = "Backend service does not exist"
_DEFAULT_ACTION = parsing.FixedResponse(status_code="404", content_type="text/plain")


def is_alb_ingress(ingress: Mapping[str, Any], ingress_classes: list[dict[str, Any]]) -> bool:
    """The annotation overrides spec.ingressClassName, which needs an IngressClass of the ALB controller."""
    ingress_annotations = _meta(ingress).get("annotations") or {}
    if parsing.CLASS_ANNOTATION in ingress_annotations:
        return bool(ingress_annotations[parsing.CLASS_ANNOTATION] == "alb")
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    by_name = {_meta(ic).get("name"): ic for ic in ingress_classes}
    if class_name is None:
        defaults = [ic for ic in ingress_classes
                    if (_meta(ic).get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class")
                    == "true"]
        return any((ic.get("spec") or {}).get("controller") == ALB_CONTROLLER for ic in defaults)
    found = by_name.get(class_name)
    return found is not None and (found.get("spec") or {}).get("controller") == ALB_CONTROLLER


def _hash10(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:10]


def _clean(text: str) -> str:
    return _NOT_ALNUM.sub("", text)


def _ref(ingress: Mapping[str, Any]) -> models.IngressRef:
    meta = _meta(ingress)
    return models.IngressRef(namespace=meta.get("namespace", ""), name=meta["name"], uid=meta.get("uid", ""))


def _path_patterns(path: Mapping[str, Any]) -> list[str]:
    value = path.get("path") or ""
    kind = path.get("pathType") or "ImplementationSpecific"
    if kind == "Prefix":
        if value in ("", "/"):
            return ["/*"]
        trimmed = value.rstrip("/")
        return [trimmed, f"{trimmed}/*"]
    return [value] if value else []


def _sorted_paths(paths: list[dict[str, Any]]) -> list[dict[str, Any]]:
    exact = [p for p in paths if p.get("pathType") == "Exact"]
    prefix = sorted(
        (p for p in paths if p.get("pathType") == "Prefix"), key=lambda p: -len(p.get("path") or "")
    )
    other = [p for p in paths if p.get("pathType") not in ("Exact", "Prefix")]
    return exact + prefix + other


class _StackBuilder:
    """Builds one stack; collects target groups across its member Ingresses."""

    def __init__(self, view: ClusterView, *, cluster: str, stack_id: str, reject_actions: bool,
                 prefix: str) -> None:
        self._view = view
        self._cluster = cluster
        self._stack_id = stack_id
        self._reject_actions = reject_actions
        self._prefix = prefix
        self.target_groups: dict[str, models.TargetGroupModel] = {}
        self.services_read: dict[tuple[str, str], str] = {}  # (namespace, name) -> resourceVersion or ""

    def _service(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._view.service(namespace, name)
        self.services_read[(namespace, name)] = str(_meta(found).get("resourceVersion", "")) if found else ""
        return found

    def _target_group(self, ingress: Mapping[str, Any], svc: dict[str, Any], written_port: str) -> str:
        ing = _ref(ingress)
        svc_meta = _meta(svc)
        ports: list[dict[str, Any]] = (svc.get("spec") or {}).get("ports") or []
        if written_port.isdigit():
            matching = [p for p in ports if p.get("port") == int(written_port)]
        else:
            matching = [p for p in ports if p.get("name") == written_port]
        if not matching:
            where = f"{svc_meta.get('namespace')}/{svc_meta['name']}"
            raise parsing.BuildError(f"unable to find port {written_port} on service {where}")
        svc_port = matching[0]
        target_port = svc_port.get("targetPort", svc_port.get("port"))
        tg_port = target_port if isinstance(target_port, int) else 1
        resource_id = f"{ing.namespace}/{ing.name}-{svc_meta['name']}:{written_port}"
        digest = _hash10(self._cluster, self._stack_id, ing.namespace, ing.name, svc_meta.get("uid", ""),
                         written_port, str(tg_port), "ip", "HTTP", "HTTP1")
        name = f"k8s-{_clean(ing.namespace)[:8]}-{_clean(svc_meta['name'])[:8]}-{digest}"
        self.target_groups[resource_id] = models.TargetGroupModel(
            resource_id=resource_id, name=name, namespace=ing.namespace, service=svc_meta["name"],
            service_port=written_port, port=tg_port,
        )
        return resource_id

    def _forward(self, ingress: Mapping[str, Any], forward: parsing.Forward) -> models.ActionModel:
        namespace = _ref(ingress).namespace
        services = {t.service_name for t in forward.target_groups if t.service_name is not None}
        single = len(forward.target_groups) == 1 and len(services) == 1
        tuples: list[tuple[models.TargetRef, int | None]] = []
        for item in forward.target_groups:
            if item.service_name is None:
                tuples.append((models.TargetRef(arn=item.target_group_arn, name=item.target_group_name),
                               item.weight))
                continue
            svc = self._service(namespace, item.service_name)
            if svc is None:
                if single:
                    return parsing.FixedResponse("503", "text/plain", _NO_SERVICE)
                raise parsing.BuildError(f'services "{item.service_name}" not found')
            port = item.service_port or ""
            port = str(int(port)) if port.isdigit() else port
            resource_id = self._target_group(ingress, svc, port)
            tuples.append((models.TargetRef(resource_id=resource_id), item.weight))
        return models.ForwardModel(target_groups=tuple(tuples), stickiness=forward.stickiness)

    def action(self, ingress: Mapping[str, Any], backend: Mapping[str, Any]) -> models.ActionModel:
        service = backend.get("service")
        if not service:
            raise parsing.BuildError('missing required "service" field')
        name: str = service.get("name", "")
        port = service.get("port") or {}
        ingress_annotations: dict[str, str] = _meta(ingress).get("annotations") or {}
        parsed: parsing.Action | None
        if port.get("name") == "use-annotation":
            key = f"{self._prefix}/actions.{name}"
            if self._reject_actions and key in ingress_annotations:
                raise parsing.BuildError(
                    f"failed to parse json annotation, {key}: {ingress_annotations[key]}: "
                    "rejected by the sandbox (rejectActions)"
                )
            parsed = parsing.parse_action(ingress_annotations, name, prefix=self._prefix)
            if parsed is None:
                return parsing.FixedResponse("503", "text/plain", _NO_ACTION)
        else:
            written = port.get("name") or str(port.get("number", ""))
            parsed = parsing.Forward(target_groups=(parsing.TargetTuple(name, written),))
        if isinstance(parsed, parsing.Forward):
            return self._forward(ingress, parsed)
        return parsed

    def rules(self, ingress: Mapping[str, Any]) -> list[tuple[tuple[parsing.Condition, ...],
                                                            models.ActionModel]]:
        built: list[tuple[tuple[parsing.Condition, ...], models.ActionModel]] = []
        ingress_annotations: dict[str, str] = _meta(ingress).get("annotations") or {}
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            host = rule.get("host")
            for path in _sorted_paths(((rule.get("http") or {}).get("paths")) or []):
                backend = path.get("backend") or {}
                name = (backend.get("service") or {}).get("name", "")
                extra = parsing.parse_conditions(ingress_annotations, name, prefix=self._prefix)
                action = self.action(ingress, backend)
                hosts = {host} if host else set()
                patterns = _path_patterns(path)
                others: list[parsing.Condition] = []
                for condition in extra:
                    if condition.field == "host-header" and condition.values:
                        hosts.update(condition.values)
                    elif condition.field == "path-pattern" and condition.values:
                        patterns.extend(condition.values)
                    else:
                        others.append(condition)
                conditions: list[parsing.Condition] = []
                if hosts:
                    conditions.append(parsing.Condition("host-header", values=tuple(sorted(hosts))))
                if patterns:
                    conditions.append(parsing.Condition("path-pattern", values=tuple(patterns)))
                conditions.extend(others)
                if not conditions:
                    conditions.append(parsing.Condition("path-pattern", values=("/*",)))
                built.append((tuple(conditions), action))
        return built


def service_targets(
    view: ClusterView, namespace: str, service: str, port: int | str
) -> tuple[tuple[str, int], ...]:
    """Sorted (pod IP, container port) of the ready endpoints behind a Service port (number or name)."""
    svc = view.service(namespace, service)
    if svc is None:
        return ()
    ports: list[dict[str, Any]] = (svc.get("spec") or {}).get("ports") or []
    wanted = str(port)
    matching = [p for p in ports if (str(p.get("port")) if wanted.isdigit() else p.get("name")) == wanted]
    if not matching:
        return ()
    port_name = matching[0].get("name") or ""
    found: set[tuple[str, int]] = set()
    slices = view.slices_of(namespace, service)
    for piece in slices:
        numbers = [p["port"] for p in piece.get("ports") or [] if (p.get("name") or "") == port_name]
        for endpoint in piece.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is False or conditions.get("terminating") is True:
                continue
            addresses = endpoint.get("addresses") or []
            found.update((address, number) for address in addresses for number in numbers)
    if not slices:
        for ep in view.endpoints_of(namespace, service):
            for subset in ep.get("subsets") or []:
                numbers = [p["port"] for p in subset.get("ports") or [] if (p.get("name") or "") == port_name]
                found.update((a["ip"], number) for a in subset.get("addresses") or [] for number in numbers)
    return tuple(sorted(found))


BindingCache = dict[str, tuple[tuple[str, ...], models.BindingTargets]]
"""TargetGroupBinding key -> (the resourceVersions it was planned from, what was planned)."""


def plan_bindings(view: ClusterView, bindings: list[dict[str, Any]], cache: BindingCache | None = None
                  ) -> dict[str, models.BindingTargets]:
    """What each TargetGroupBinding should have registered, by "<ns>/<name>"; with `cache`, a binding whose
    TGB, Service, EndpointSlices and Endpoints did not change is not planned again."""
    planned: dict[str, models.BindingTargets] = {}
    for tgb in bindings:
        meta = _meta(tgb)
        spec = tgb.get("spec") or {}
        ref = spec.get("serviceRef") or {}
        arn = spec.get("targetGroupARN")
        if not arn or meta.get("deletionTimestamp") or spec.get("targetType") != "ip":
            continue
        namespace, service = meta.get("namespace", ""), str(ref.get("name", ""))
        key = f"{namespace}/{meta['name']}"
        inputs = tuple(str(_meta(o).get("resourceVersion", "")) for o in (
            tgb, view.service(namespace, service) or {}, *view.slices_of(namespace, service),
            *view.endpoints_of(namespace, service)))
        known = cache.get(key) if cache is not None else None
        if known is not None and known[0] == inputs:
            planned[key] = known[1]
            continue
        planned[key] = models.BindingTargets(
            namespace=namespace, name=meta["name"], target_group_arn=arn,
            targets=service_targets(view, namespace, service, ref.get("port", "")),
        )
        if cache is not None:
            cache[key] = (inputs, planned[key])
    if cache is not None:
        for gone in [key for key in cache if key not in planned]:
            del cache[gone]
    return planned


def _group(ingress: Mapping[str, Any], prefix: str) -> tuple[str, bool, int]:
    ing = _ref(ingress)
    found = _meta(ingress).get("annotations") or {}
    try:
        order = int(found.get(f"{prefix}/group.order", "0"))
    except ValueError:
        order = 0
    group = found.get(f"{prefix}/group.name")
    if group and len(group) <= 63 and _GROUP_NAME.match(group):
        return group, True, order
    return f"{ing.namespace}/{ing.name}", False, order


def _lb_name(stack_id: str, explicit: bool, members: list[dict[str, Any]], cluster: str, prefix: str) -> str:
    for member in members:
        wanted = (_meta(member).get("annotations") or {}).get(f"{prefix}/load-balancer-name")
        if wanted:
            return str(wanted)[:32]
    digest = _hash10(cluster, stack_id, "internet-facing")
    if explicit:
        return f"k8s-{_clean(stack_id)[:17]}-{digest}"
    namespace, name = stack_id.split("/", 1)
    return f"k8s-{_clean(namespace)[:8]}-{_clean(name)[:8]}-{digest}"


def _build_stack(builder: _StackBuilder, view: ClusterView, stack_id: str, explicit: bool,
                 members: list[dict[str, Any]], *, cluster: str, prefix: str) -> models.StackModel:
    default: models.ActionModel | None = None
    rules: list[models.RuleModel] = []
    for ingress in members:
        backend = (ingress.get("spec") or {}).get("defaultBackend")
        if backend:
            if default is not None:
                raise parsing.BuildError(f"multiple ingress defined default backend in group {stack_id}")
            default = builder.action(ingress, backend)
        for conditions, action in builder.rules(ingress):
            rules.append(models.RuleModel(priority=len(rules) + 1, conditions=conditions, action=action))
    return models.StackModel(
        stack_id=stack_id,
        explicit_group=explicit,
        lb_name=_lb_name(stack_id, explicit, members, cluster, prefix),
        members=tuple(_ref(m) for m in members),
        default_action=default or _DEFAULT_ACTION,
        rules=tuple(rules),
        target_groups=tuple(sorted(builder.target_groups.values(), key=lambda tg: tg.resource_id)),
    )


StackCache = dict[str, tuple[Any, dict[tuple[str, str], str], "models.StackModel | models.BuildFailure"]]
"""Stack id -> (its inputs, the Services it read with their resourceVersions, what was built)."""


def build_stacks(view: ClusterView, *, cluster: str, reject_actions: bool = False,
                 prefix: str = parsing.PREFIX, cache: StackCache | None = None
                 ) -> dict[str, models.StackModel | models.BuildFailure]:
    """Every ALB stack the cluster asks for, by stack id; a stack that cannot be built is a BuildFailure.
    With `cache` (kept by the caller between calls), unchanged stacks are not built again."""
    groups: dict[str, tuple[bool, list[tuple[int, str, dict[str, Any]]]]] = {}
    for ingress in view.ingresses:
        if _meta(ingress).get("deletionTimestamp") or not is_alb_ingress(ingress, view.ingress_classes):
            continue
        stack_id, explicit, order = _group(ingress, prefix)
        ref = _ref(ingress)
        groups.setdefault(stack_id, (explicit, []))[1].append((order, f"{ref.namespace}/{ref.name}", ingress))
    stacks: dict[str, models.StackModel | models.BuildFailure] = {}
    for stack_id, (explicit, entries) in sorted(groups.items()):
        members = [ingress for _, _, ingress in sorted(entries, key=lambda e: (e[0], e[1]))]
        # A stack is rebuilt only when a member Ingress or a Service it read changed (or the knobs did):
        # with thousands of Ingresses, most changes touch one stack.
        inputs = (explicit, reject_actions, cluster, prefix,
                  tuple((_named(m), str(_meta(m).get("resourceVersion", ""))) for m in members))
        if cache is not None and stack_id in cache:
            cached_inputs, reads, built = cache[stack_id]
            if cached_inputs == inputs and all(_version(view, key) == rv for key, rv in reads.items()):
                stacks[stack_id] = built
                continue
        builder = _StackBuilder(view, cluster=cluster, stack_id=stack_id, reject_actions=reject_actions,
                                prefix=prefix)
        try:
            stacks[stack_id] = _build_stack(builder, view, stack_id, explicit, members, cluster=cluster,
                                            prefix=prefix)
        except parsing.BuildError as err:
            stacks[stack_id] = models.BuildFailure(
                stack_id=stack_id, members=tuple(_ref(m) for m in members), message=str(err)
            )
        if cache is not None:
            cache[stack_id] = (inputs, builder.services_read, stacks[stack_id])
    if cache is not None:
        for gone in [stack_id for stack_id in cache if stack_id not in groups]:
            del cache[gone]
    return stacks


def _version(view: ClusterView, key: tuple[str, str]) -> str:
    found = view.service(*key)
    return str(_meta(found).get("resourceVersion", "")) if found else ""
