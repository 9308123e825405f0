"""The chaos suite's invariants, checked on every change the API server stores (a storage subscription, so no
write between two samples is missed), and the scenario's timeline.

Per good Rollout:
- the step index (status.currentStepIndex) never decreases or skips within one revision
  (status.currentPodHash); a new revision starts at step 0 (a first deploy, with no stableRS yet, goes past
  the end at once, as the reference's does);
- the canary weight in the Rollout's action annotation never exceeds the current step's setWeight (the latest
  setWeight at or before status.currentStepIndex; 100 past the end), on every Ingress and status write;
- at most one ReplicaSet per pod template (a second one for the same template is a restart of every pod);
- no stable pod is removed before promotion: while status.stableRS names a hash, that ReplicaSet's
  spec.replicas never drops below the Rollout's spec.replicas and none of its pods is deleted.
For the invalid Rollout: no ReplicaSet, its Services never modified, nothing of it on the shared Ingress.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.apiserver.streams import WatchEvent
from tests.chaos import manifests
from tests.chaos.manifests import BAD, GOOD, RolloutSpec

__all__ = ["Checker", "Finding", "Timeline"]

_HASH = "rollouts-pod-template-hash"
_BOOKKEEPING = "rollouts.argoproj.io/managed-alb-annotations"


class Timeline:
    """What happened, when (seconds since the scenario started), for the failure stories."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.lines: list[tuple[float, str]] = []

    def say(self, text: str) -> None:
        self.lines.append((self.now(), text))

    def tail(self, until: float, count: int = 25) -> list[str]:
        shown = [(t, text) for t, text in self.lines if t <= until][-count:]
        return [f"{t:7.2f}s  {text}" for t, text in shown]

    def dump(self) -> str:
        return "\n".join(f"{t:7.2f}s  {text}" for t, text in self.lines)


@dataclass(frozen=True, slots=True)
class Finding:
    """A broken invariant: when, which Rollout, what was seen."""

    at: float
    rollout: str
    what: str

    def __str__(self) -> str:
        return f"t={self.at:.2f}s rollout {self.rollout}: {self.what}"


@dataclass(slots=True)
class _Rollout:
    spec: RolloutSpec
    obj: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)  # currentPodHash -> last currentStepIndex
    hashes: list[str] = field(default_factory=list)  # revisions in the order seen
    weight: int | None = None
    shown: tuple[Any, ...] = ()
    over: tuple[Any, ...] = ()  # the (weight, index, revision) last found too heavy: said once

    @property
    def status(self) -> dict[str, Any]:
        found = self.obj.get("status")
        return found if isinstance(found, dict) else {}

    @property
    def index(self) -> int | None:
        value = self.status.get("currentStepIndex")
        return value if isinstance(value, int) else None

    @property
    def pod_hash(self) -> str:
        return str(self.status.get("currentPodHash") or "")

    @property
    def stable_hash(self) -> str:
        return str(self.status.get("stableRS") or "")

    @property
    def replicas(self) -> int:
        value = (self.obj.get("spec") or {}).get("replicas")
        return value if isinstance(value, int) else 1


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}


def _image(rs: dict[str, Any]) -> str:
    containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image", ""))


class Checker:
    """Feed it every stored change (`handle`); it keeps `findings` and sets `changed` when a Service selector,
    the Ingress's annotations or a pod's presence changes (the sampler probes at once)."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.findings: list[Finding] = []
        self.changed = asyncio.Event()
        self.rollouts = {spec.name: _Rollout(spec) for spec in GOOD}
        self.annotations: dict[str, str] = {}
        self.replicasets: dict[str, dict[str, Any]] = {}  # name -> latest
        self.templates: dict[tuple[str, str], set[str]] = {}  # (rollout, image) -> ReplicaSet names+uids
        self.selectors: dict[str, dict[str, str]] = {}
        self.leader = ""
        self.events = 0

    def find(self, rollout: str, what: str) -> None:
        finding = Finding(self.timeline.now(), rollout, what)
        self.findings.append(finding)
        self.timeline.say(f"INVARIANT BROKEN: {finding}")

    # ---- events --------------------------------------------------------------------------------------------
    def handle(self, event: WatchEvent) -> None:
        self.events += 1
        obj = event.object
        meta = _meta(obj)
        if meta.get("namespace") not in (manifests.NAMESPACE, manifests.LEASE_NAMESPACE):
            return
        match event.resource:
            case "rollouts.argoproj.io":
                self._rollout(event.type, obj)
            case "ingresses.networking.k8s.io":
                if meta.get("name") == manifests.INGRESS:
                    self._ingress(obj)
            case "replicasets.apps":
                self._replicaset(event.type, obj)
            case "pods":
                if event.type == "DELETED":
                    self._pod_deleted(obj)
            case "services":
                self._service(event.type, obj)
            case "leases.coordination.k8s.io":
                holder = str((obj.get("spec") or {}).get("holderIdentity") or "")
                if holder != self.leader:
                    self.leader = holder
                    self.timeline.say(f"lease held by {holder or '(nobody)'}")

    def _rollout(self, kind: str, obj: dict[str, Any]) -> None:
        name = _meta(obj).get("name", "")
        state = self.rollouts.get(name)
        if state is None:
            return
        if kind == "DELETED":
            self.find(name, "the Rollout was deleted")
            return
        had_stable = state.stable_hash
        state.obj = obj
        status = state.status
        shown = (state.pod_hash, state.index, status.get("phase"), status.get("stableRS"),
                 bool(status.get("pauseConditions")), status.get("message"))
        if shown != state.shown:
            state.shown = shown
            self.timeline.say(f"rollout {name}: hash {state.pod_hash or '-'} step {state.index} phase "
                              f"{status.get('phase')} stableRS {state.stable_hash or '-'}"
                              f"{' paused' if status.get('pauseConditions') else ''} "
                              f"({status.get('message') or ''})")
        self._step(state, had_stable)
        self._weight(state)

    def _step(self, state: _Rollout, had_stable: str) -> None:
        name, pod_hash, index = state.spec.name, state.pod_hash, state.index
        if not pod_hash or index is None:
            return
        last = state.steps.get(pod_hash)
        if last is None:
            if state.hashes and index != 0:
                self.find(name, f"revision {pod_hash} started at step {index}, not 0 (after {state.hashes})")
            state.hashes.append(pod_hash)
        elif index < last:
            self.find(name, f"step index went back from {last} to {index} in revision {pod_hash}")
        elif index > last + 1 and not (index == len(state.spec.steps) and not had_stable):
            # (A first deploy, with no stable ReplicaSet to canary from, is promoted at once: past the end.)
            self.find(name, f"step index skipped from {last} to {index} in revision {pod_hash}")
        state.steps[pod_hash] = index

    def _weight(self, state: _Rollout) -> None:
        weight, index = state.weight, state.index
        allowed = manifests.allowed_weight(state.spec.steps, index)
        if weight is not None and weight > allowed and state.over != (weight, index, state.pod_hash):
            state.over = (weight, index, state.pod_hash)
            self.find(state.spec.name, f"canary weight {weight} in the annotation exceeds step {index}'s "
                                       f"setWeight {allowed} (revision {state.pod_hash or '-'})")

    def _ingress(self, obj: dict[str, Any]) -> None:
        annotations = dict(_meta(obj).get("annotations") or {})
        if annotations == self.annotations:
            return
        self.annotations = annotations
        self.changed.set()
        for state in self.rollouts.values():
            weight = manifests.canary_weight(annotations, state.spec)
            if weight != state.weight:
                state.weight = weight
                self.timeline.say(f"annotation {state.spec.name}: canary weight {weight}")
                self._weight(state)
        if BAD.action_key in annotations:
            self.find(BAD.name, f"the invalid Rollout's action annotation {BAD.action_key} was written")
        try:
            kept = json.loads(annotations.get(_BOOKKEEPING) or "{}")
        except ValueError:
            kept = {}
        if isinstance(kept, dict) and BAD.name in kept:
            self.find(BAD.name, f"the invalid Rollout has a bookkeeping entry: {kept[BAD.name]}")

    def _replicaset(self, kind: str, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        name = str(meta.get("name", ""))
        app = str(((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
                   or {}).get("app", ""))
        if app == BAD.name:
            self.find(BAD.name, f"ReplicaSet {name} was created for the invalid Rollout")
            return
        state = self.rollouts.get(app)
        if state is None:
            return
        if kind == "DELETED":
            self.replicasets.pop(name, None)
            self.timeline.say(f"ReplicaSet {name} deleted")
            return
        if kind == "ADDED":
            made = self.templates.setdefault((app, _image(obj)), set())
            made.add(f"{name} (uid {meta.get('uid')})")
            self.timeline.say(f"ReplicaSet {name} created ({_image(obj)})")
            if len(made) > 1:
                self.find(app, f"more than one ReplicaSet for the template with {_image(obj)}: "
                               f"{sorted(made)}")
        before = self.replicasets.get(name)
        self.replicasets[name] = obj
        wanted = (obj.get("spec") or {}).get("replicas")
        had = (before or {}).get("spec", {}).get("replicas")
        if wanted != had:
            self.timeline.say(f"ReplicaSet {name}: spec.replicas {had} -> {wanted}")
            stable = state.stable_hash
            labels = meta.get("labels") or {}
            if (stable and labels.get(_HASH) == stable and isinstance(wanted, int)
                    and wanted < state.replicas and (had is None or wanted < had)):
                self.find(app, f"the stable ReplicaSet {name} was scaled to {wanted} while status.stableRS "
                               f"is still {stable} (before promotion)")

    def _pod_deleted(self, obj: dict[str, Any]) -> None:
        labels = _meta(obj).get("labels") or {}
        state = self.rollouts.get(str(labels.get("app", "")))
        if state is None:
            return
        self.changed.set()
        pod_hash = labels.get(_HASH)
        self.timeline.say(f"pod {_meta(obj).get('name')} deleted")
        if state.stable_hash and pod_hash == state.stable_hash:
            self.find(state.spec.name, f"stable pod {_meta(obj).get('name')} was deleted while "
                                       f"status.stableRS is still {pod_hash} (before promotion)")

    def _service(self, kind: str, obj: dict[str, Any]) -> None:
        name = str(_meta(obj).get("name", ""))
        selector = dict((obj.get("spec") or {}).get("selector") or {})
        if name in (BAD.stable, BAD.canary):
            if kind != "ADDED":
                self.find(BAD.name, f"the invalid Rollout's Service {name} was modified: selector {selector}")
            return
        if self.selectors.get(name) != selector:
            self.selectors[name] = selector
            self.changed.set()
            self.timeline.say(f"Service {name} selector {selector}")
