"""Properties of the Ingress merge patch (hypothesis).

Aspects: re-rendering a patched Ingress yields no patch, whatever the weight, experiments, header route,
managed routes, removal, other rollouts' entries and legacy key; any Ingress shape gives a body, None, an
IngressError or a Refusal, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.alb import actions, ingress_patch, rules
from service.alb.ingress_patch import HeaderRoute, Routing
from tests.service.alb.builders import apply_merge_patch, build_ingress

KEY = "rollouts.argoproj.io/managed-alb-annotations"
LEGACY = "rollouts.argoproj.io/managed-alb-actions"
ROUTING = Routing(
    rollout="rollout", action_service="stable", canary_service="canary", stable_service="stable", port=80
)


_names = st.sampled_from(["r1", "r2", "r3"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    weight=st.integers(-20, 120),
    experiments=st.lists(st.integers(-10, 60), max_size=2),
    route=st.one_of(st.none(), st.tuples(_names, st.booleans())),
    managed=st.lists(_names, unique=True, max_size=3),
    remove=st.booleans(),
    other_entry=st.booleans(),
    legacy=st.booleans(),
)
def test_rerendering_a_patched_ingress_yields_no_patch(
    weight: int, experiments: list[int], route: tuple[str, bool] | None, managed: list[str], remove: bool,
    other_entry: bool, legacy: bool,
) -> None:
    annotations: dict[str, str] = {}
    if other_entry:
        annotations[KEY] = '{ "other" : ["x/actions.o"] }'
    if legacy:
        annotations[LEGACY] = "other:x/actions.o"
    ingress = build_ingress(services=("stable", "other"), annotations=annotations)
    routing = replace(ROUTING, managed_routes=tuple(managed))
    header = None
    if route is not None:
        header = HeaderRoute(route[0], (actions.Match("X", "v"),) if route[1] else None)
    kwargs: dict[str, Any] = {
        "desired_weight": weight,
        "additional": [actions.Destination(f"exp{i}", w) for i, w in enumerate(experiments)],
        "header_route": header,
        "remove_managed_routes": remove,
    }
    patch = ingress_patch.weight_patch(ingress, routing, **kwargs)
    assert patch is not None  # the first write always adds the action
    patched = apply_merge_patch(ingress, patch)
    assert ingress_patch.weight_patch(patched, routing, **kwargs) is None


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(["", "stable", "r1", "use-annotation", "alb"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["http", "paths", "backend", "service", "name", "port", "resource", "host", "path"]),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(
    annotations=st.one_of(_json, st.dictionaries(st.sampled_from([KEY, LEGACY, "x"]), _json, max_size=3)),
    spec=st.one_of(
        _json, st.fixed_dictionaries({"rules": _json}), st.fixed_dictionaries({"ingressClassName": _json})
    ),
    whole=st.one_of(
        st.none(), _json, st.fixed_dictionaries({"metadata": _json, "spec": _json}),
        # a routable Ingress with odd metadata: the paths that build the body must cope too
        st.builds(lambda metadata: {**build_ingress(), "metadata": metadata},
                  st.one_of(st.none(), st.just({}), st.fixed_dictionaries({"annotations": st.none()}))),
    ),
)
def test_any_ingress_shape_gives_an_answer_never_a_crash(annotations: Any, spec: Any, whole: Any) -> None:
    ingress: Any = whole
    if whole is None:
        ingress = {"metadata": {"name": "i", "annotations": annotations}, "spec": spec}
    route = HeaderRoute("r1", (actions.Match("X", "1"),))
    calls: list[Callable[[], dict[str, Any] | None]] = [
        lambda: ingress_patch.weight_patch(ingress, ROUTING, desired_weight=10, classes=("alb", ""),
                                           header_route=route),
        lambda: ingress_patch.cleanup_patch(ingress, "rollout", classes=("alb", ""))[0],
    ]
    for call in calls:
        try:
            result = call()
        except (rules.IngressError, ingress_patch.Refusal) as error:
            assert str(error)
        else:
            assert result is None or isinstance(result, dict)
