"""Which strategies we serve: blue-green and canaries routed by anything but alb alone are left alone."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import serving


def _raw(strategy: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r"}, "spec": {"strategy": strategy}}


CASES = [
    pytest.param({"canary": {"trafficRouting": {"alb": {"ingress": "i"}}}}, None, id="alb"),
    pytest.param({"canary": {"trafficRouting": {"alb": {}, "managedRoutes": [], "maxTrafficWeight": 5}}},
                 None, id="alb-with-its-fields"),
    pytest.param({"canary": {}}, None, id="basic-canary"),
    pytest.param({"canary": {"trafficRouting": {"managedRoutes": []}}}, None,
                 id="no-router-is-invalid-not-unserved"),
    pytest.param({"blueGreen": {"activeService": "a"}}, None, id="blue-green-is-served"),
    pytest.param({"canary": {"trafficRouting": {"istio": {}}}}, "trafficRouting.istio", id="istio"),
    pytest.param({"canary": {"trafficRouting": {"smi": {}, "nginx": {}}}},
                 "trafficRouting.nginx, trafficRouting.smi", id="two-routers-sorted"),
    pytest.param({"canary": {"trafficRouting": {"plugins": {"x/y": {}}}}}, "trafficRouting.plugins",
                 id="plugins"),
    pytest.param({"canary": {"trafficRouting": {"alb": {}, "traefik": {}}}},
                 "trafficRouting.traefik (alb-rollouts routes with trafficRouting.alb alone)",
                 id="alb-and-more"),
    pytest.param({}, None, id="no-strategy-is-invalid"),
    pytest.param("nonsense", None, id="malformed-is-invalid"),
]


@pytest.mark.parametrize(("strategy", "what"), CASES)
def test_unserved(strategy: Any, what: str | None) -> None:
    found = serving.unserved(_raw(strategy))
    assert (found.what if found is not None else None) == what


def test_the_event_says_who_serves_it_and_how() -> None:
    found = serving.unserved(_raw({"canary": {"trafficRouting": {"smi": {}}}}))
    assert found is not None
    event = found.event()
    assert (event.type, event.reason) == ("Warning", "StrategyNotServed")
    assert event.message == (
        "alb-rollouts does not serve trafficRouting.smi: this Rollout is left to the Argo Rollouts "
        "controller, and alb-rollouts never writes to it. Run both controllers with distinct --instance-id "
        "values and label each Rollout argo-rollouts.argoproj.io/controller-instance-id=<id> of the "
        "controller that should serve it (a controller without --instance-id serves only unlabelled "
        "Rollouts)")
