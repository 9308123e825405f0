"""`spec.workloadRef` on the sandbox, through the real wire: a Rollout that runs a Deployment's pod template.

Aspects: an ALB canary with `workloadRef` (no template, no selector) becomes Healthy with a ReplicaSet whose
pod template is the Deployment's (containers present), the Rollout annotated with the Deployment's generation
(also on the ReplicaSet) and `status.workloadObservedGeneration` written, its spec never written back; a new
image in the Deployment is enqueued by the Deployment watch (a second Rollout that references it and is never
reconciled is enqueued too) and starts a canary update; scaleDown never leaves the Deployment alone,
onsuccess scales it to 0 once the Rollout is Healthy (and again when someone scales it back up during
revision 1), progressively scales it down as the Rollout's pods become ready and to 0 once Healthy; a
missing Deployment gives the reference's InvalidSpec condition and message, phase Degraded and no
ReplicaSet POST, and creating it brings the Rollout up; a template beside workloadRef, and a Rollout with
neither template nor workloadRef (or a template without containers), get InvalidSpec and no ReplicaSet POST.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service import results
from statemachine import workload_refs

from .world import HASH, INGRESSES, NS, ROLLOUTS, World, ingress, rollout, service, template

DEPLOYMENTS = "deployments.apps"
GENERATION = workload_refs.WORKLOAD_GENERATION_ANNOTATION
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def deployment(image: str = "app:1", replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "demo"}},
                     "template": template(image)}}


def referencing(name: str = "demo", *, scale_down: str | None = None, routed: bool = True,
                **options: Any) -> dict[str, Any]:
    """The world's Rollout with `workloadRef: web` instead of a template and a selector."""
    body = rollout(name, **options)
    spec = body["spec"]
    del spec["template"], spec["selector"]
    spec["workloadRef"] = {**REF, "scaleDown": scale_down} if scale_down else dict(REF)
    if not routed:  # a basic canary without Services: nothing but ReplicaSets
        for field in ("trafficRouting", "canaryService", "stableService"):
            del spec["strategy"]["canary"][field]
    return body


def routing(w: World) -> None:
    for name in ("stable", "canary"):
        w.apply("services", service(name))
    w.apply(INGRESSES, ingress())


def replicas_of_web(w: World) -> int:
    return int(w.get(DEPLOYMENTS, "web")["spec"]["replicas"])


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def replica_set_posts(w: World) -> list[str]:
    return [what for verb, what in w.writer.writes if verb == "create_replicaset"]


async def healthy(w: World) -> None:
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")


async def invalid(w: World) -> str:
    """Reconcile once more than the caches need: the InvalidSpec message, with its status written."""
    await w.caught_up()
    with pytest.raises(results.TerminalError) as raised:
        await w.reconcile()
    return str(raised.value)


async def test_the_rollout_runs_the_deployments_template_and_follows_its_changes(world: Any) -> None:
    w: World = await world()
    routing(w)
    w.apply(DEPLOYMENTS, deployment("app:1", replicas=2))
    w.apply(ROLLOUTS, referencing(steps=[{"setWeight": 20}, {"pause": {}}]))
    await healthy(w)

    (rs,) = w.replica_sets().values()
    pod_template = rs["spec"]["template"]
    assert pod_template["spec"]["containers"] == template("app:1")["spec"]["containers"]
    assert pod_template["metadata"]["labels"] == {"app": "demo", HASH: rs["metadata"]["labels"][HASH]}
    assert annotations(rs)[GENERATION] == "1"
    stored = w.get(ROLLOUTS, "demo")
    assert annotations(stored)[GENERATION] == "1"
    assert "template" not in stored["spec"] and "selector" not in stored["spec"]  # never written back
    status = w.status()
    assert status["workloadObservedGeneration"] == "1"
    assert status["selector"] == "app=demo"
    assert replicas_of_web(w) == 2  # scaleDown unset: never

    # a second Rollout on the same Deployment, never reconciled: only the Deployment watch enqueues it now
    w.apply(ROLLOUTS, referencing("other"))
    await w.caught_up()
    w.enqueued.clear()
    w.storage.merge_patch(DEPLOYMENTS, NS, "web", {"spec": {"template": template("app:2")}})
    await w.caught_up()
    assert {"default/demo", "default/other"} <= set(w.enqueued)

    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused at 20%")
    status = w.status()
    canary = status["currentPodHash"]
    assert canary != rs["metadata"]["labels"][HASH]
    assert status["workloadObservedGeneration"] == "2"
    assert annotations(w.get(ROLLOUTS, "demo"))[GENERATION] == "2"
    new_rs = w.replica_sets()[f"demo-{canary}"]
    assert new_rs["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    assert annotations(new_rs)["rollout.argoproj.io/revision"] == "2"
    assert w.get("services", "canary")["spec"]["selector"][HASH] == canary
    assert replicas_of_web(w) == 2
    assert all(rs_["spec"]["template"]["spec"]["containers"] for rs_ in w.replica_sets().values())


async def test_scale_down_never_leaves_the_deployment(world: Any) -> None:
    w: World = await world()
    w.apply(DEPLOYMENTS, deployment(replicas=3))
    w.apply(ROLLOUTS, referencing(scale_down="never", routed=False, steps=[], replicas=3))
    await healthy(w)
    for _ in range(3):
        await w.reconcile()
    assert replicas_of_web(w) == 3
    assert w.get(DEPLOYMENTS, "web")["metadata"]["generation"] == 1


async def test_scale_down_on_success_scales_the_deployment_to_zero_once_healthy(world: Any) -> None:
    w: World = await world()
    w.apply(DEPLOYMENTS, deployment(replicas=3))
    w.apply(ROLLOUTS, referencing(scale_down="onsuccess", routed=False, steps=[], replicas=3))
    seen: list[tuple[str, int]] = []

    def done() -> bool:
        seen.append((str(w.status().get("phase")), replicas_of_web(w)))
        return replicas_of_web(w) == 0

    await w.settle(done, what="the Deployment at 0")
    # the Deployment keeps its replicas until a reconcile has seen the Rollout Healthy
    assert all(replicas == 3 for phase, replicas in seen if phase != "Healthy")
    assert w.status()["phase"] == "Healthy"
    assert w.status()["workloadObservedGeneration"] == "2"  # scaling gave the Deployment a new generation

    # someone scales it back up during revision 1: the Deployment watch brings the Rollout back, and 0 again
    w.storage.merge_patch(DEPLOYMENTS, NS, "web", {"spec": {"replicas": 2}})
    await w.caught_up()
    assert "default/demo" in w.enqueued
    await w.settle(lambda: replicas_of_web(w) == 0, what="the Deployment at 0 again")


async def test_scale_down_progressively_follows_the_rollouts_ready_pods(world: Any) -> None:
    w: World = await world()
    w.cluster.pod_ready_seconds = 3600.0  # pods become ready only when the test says so
    w.apply(DEPLOYMENTS, deployment(replicas=3))
    w.apply(ROLLOUTS, referencing(scale_down="progressively", routed=False, steps=[], replicas=3))
    await w.settle(lambda: len(w.storage.list("pods", NS)) == 3, what="three pods", quiet=False)
    for _ in range(3):
        await w.reconcile()
    assert replicas_of_web(w) == 3  # nothing ready yet: the Deployment keeps serving
    sizes = [replicas_of_web(w)]
    pods = sorted(pod["metadata"]["name"] for pod in w.storage.list("pods", NS))
    for ready, pod in enumerate(pods, start=1):
        assert w.cluster.set_pod_ready(NS, pod, True)
        await w.settle(lambda ready=ready: w.status().get("readyReplicas") == ready,  # type: ignore[misc]
                       what=f"{ready} ready", quiet=False)
        await w.settle(lambda: replicas_of_web(w) == max(3 - int(w.status().get("readyReplicas") or 0), 0)
                       or w.status().get("phase") == "Healthy", what="the Deployment following")
        sizes.append(replicas_of_web(w))
    await healthy(w)
    await w.settle(lambda: replicas_of_web(w) == 0, what="the Deployment at 0")
    sizes.append(replicas_of_web(w))
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[:3] == [3, 2, 1]
    assert sizes[-1] == 0


async def test_a_missing_deployment_is_invalid_spec_until_it_exists(world: Any) -> None:
    w: World = await world()
    routing(w)
    w.apply(ROLLOUTS, referencing())
    message = await invalid(w)
    expected = ('The Rollout "demo" is invalid: spec.workloadRef: Invalid value: v1alpha1.ObjectRef{'
                'APIVersion:"apps/v1", Kind:"Deployment", Name:"web", ScaleDown:""}: '
                'deployments.apps "default/web" not found')
    assert message == expected
    status = w.status()
    (condition,) = [c for c in status["conditions"] if c["type"] == "InvalidSpec"]
    assert (condition["status"], condition["reason"]) == ("True", "InvalidSpec")
    assert condition["message"] == expected
    assert (status["phase"], status["message"]) == ("Degraded", f"InvalidSpec: {expected}")
    assert w.events("InvalidSpec") == [expected]
    assert replica_set_posts(w) == [] and w.replica_sets() == {}
    assert GENERATION not in annotations(w.get(ROLLOUTS, "demo"))

    w.enqueued.clear()
    w.apply(DEPLOYMENTS, deployment())
    await w.caught_up()
    assert "default/demo" in w.enqueued  # the Deployment watch brings the forgotten Rollout back
    await healthy(w)
    assert not [c for c in w.status()["conditions"] if c["type"] == "InvalidSpec"]


async def test_a_template_beside_workload_ref_is_invalid_spec(world: Any) -> None:
    w: World = await world()
    routing(w)
    w.apply(DEPLOYMENTS, deployment())
    body = referencing()
    body["spec"]["template"] = template("app:9")
    w.apply(ROLLOUTS, body)
    assert await invalid(w) == (
        'The Rollout "demo" is invalid: spec.workloadRef: Invalid value: v1alpha1.ObjectRef{'
        'APIVersion:"apps/v1", Kind:"Deployment", Name:"web", ScaleDown:""}: '
        'template must be empty for workload reference rollout')
    assert w.status()["phase"] == "Degraded"
    assert replica_set_posts(w) == [] and w.replica_sets() == {}


@pytest.mark.parametrize(("edit", "field_error"), [
    pytest.param(lambda spec: spec.pop("template"),
                 "spec.template.metadata.labels: Invalid value: map[string]string(nil): "
                 "`selector` does not match template `labels`", id="neither-template-nor-workload-ref"),
    pytest.param(lambda spec: spec["template"].pop("spec"), "spec.template.spec.containers: Required value",
                 id="no-containers"),
])
async def test_a_rollout_without_a_pod_template_is_invalid_spec(world: Any, edit: Any,
                                                                  field_error: str) -> None:
    w: World = await world()
    routing(w)
    body = rollout()
    edit(body["spec"])
    w.apply(ROLLOUTS, copy.deepcopy(body))
    expected = f'The Rollout "demo" is invalid: {field_error}'
    assert await invalid(w) == expected
    status = w.status()
    assert (status["phase"], status["message"]) == ("Degraded", f"InvalidSpec: {expected}")
    assert replica_set_posts(w) == [] and w.replica_sets() == {}
    assert w.storage.list("pods", NS) == []
