"""statemachine.restarting: the reference's RolloutPodRestarter as pure decisions.

Aspects: maxUnavailable as replicasetutil.MaxUnavailable resolves it (legacy percentages, the canary's
fenceposts, the cap at replicas, blue-green); NeedsRestart and the wait for a future restartAt; which pods
count (owned by the Rollout's ReplicaSets, created strictly before restartAt, deleting ones counted but not
evicted), the eviction budget (available - (max(replicas, ReplicaSet replicas) - max(maxUnavailable, 1))),
minReadySeconds, the reconcile that first sees a new template; when restartedAt is recorded and its form;
a property: evicting the budget never leaves fewer available pods than the reference allows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statemachine import restarting

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
AT = "2026-11-26T11:00:00Z"
RESTART = datetime(2026, 11, 26, 11, 0, 0, tzinfo=UTC)
OLD = RESTART - timedelta(hours=1)
NEW = RESTART + timedelta(minutes=1)
STABLE, CANARY = restarting.ReplicaSetRef("uid-stable", 4), restarting.ReplicaSetRef("uid-canary", 1)


def _spec(*, restart_at: str | None = AT, restarted_at: str | None = None, replicas: int = 4,
          max_unavailable: int = 1, min_ready_seconds: int = 0) -> restarting.RestartSpec:
    return restarting.RestartSpec(restart_at, restarted_at, replicas, max_unavailable, min_ready_seconds)


def _pod(name: str, created: datetime | None = OLD, *, owner: str = "uid-stable", ready: bool = True,
         ready_since: datetime | None = OLD, deleting: bool = False) -> restarting.PodView:
    return restarting.PodView(name, frozenset({owner}), created, ready, ready_since, deleting)


FOUR_OLD = [_pod(f"demo-abc-{n}") for n in "dcba"]
ALL = ("demo-abc-a", "demo-abc-b", "demo-abc-c", "demo-abc-d")


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "canary", "expected"), [
    pytest.param(4, None, None, True, 1, id="default-25-of-4"),
    pytest.param(10, None, None, True, 2, id="default-25-of-10-rounds-down"),
    pytest.param(2, None, None, True, 0, id="default-of-2-is-0-surge-is-1"),
    pytest.param(2, 0, "10%", True, 1, id="both-fenceposts-0-gives-1"),
    pytest.param(0, None, None, True, 0, id="no-replicas"),
    pytest.param(4, None, 3, True, 3, id="int"),
    pytest.param(4, None, "50%", True, 2, id="percent"),
    pytest.param(4, None, "50", True, 2, id="legacy-string-is-a-percentage"),
    pytest.param(4, None, 10, True, 4, id="capped-at-replicas"),
    pytest.param(4, None, "lots", True, 0, id="unparsable-reads-0"),
    pytest.param(4, None, None, False, 1, id="blue-green-default"),
    pytest.param(2, None, None, False, 0, id="blue-green-has-no-fenceposts"),
])
def test_max_unavailable(replicas: int, surge: Any, unavailable: Any, canary: bool, expected: int) -> None:
    assert restarting.max_unavailable(replicas, surge, unavailable, canary=canary) == expected


@pytest.mark.parametrize(("value", "round_up", "expected"), [
    pytest.param(3, False, 3, id="int"),
    pytest.param("25%", False, 2, id="percent-down"),
    pytest.param("25%", True, 3, id="percent-up"),
    pytest.param("25", False, 2, id="no-sign-still-percent"),
    pytest.param("x%", False, None, id="garbage"),
    pytest.param(True, False, None, id="bool"),
    pytest.param(None, False, None, id="none"),
])
def test_scaled_value(value: Any, round_up: bool, expected: int | None) -> None:
    assert restarting.scaled_value(value, 10, round_up=round_up) == expected


def test_restart_spec_reads_the_raw_rollout() -> None:
    raw = {"spec": {"replicas": 8, "restartAt": AT, "minReadySeconds": 5,
                    "strategy": {"canary": {"maxSurge": 0, "maxUnavailable": "50%"}}},
           "status": {"restartedAt": "2026-11-25T00:00:00Z"}}
    assert restarting.restart_spec(raw) == restarting.RestartSpec(AT, "2026-11-25T00:00:00Z", 8, 4, 5)
    blue_green = {"spec": {"strategy": {"blueGreen": {"maxUnavailable": 1}}}}
    assert restarting.restart_spec(blue_green) == restarting.RestartSpec(None, None, 1, 1, 0)


@pytest.mark.parametrize(("spec", "due", "wait"), [
    pytest.param(_spec(restart_at=None), False, None, id="unset"),
    pytest.param(_spec(restart_at="not a time"), False, None, id="malformed"),
    pytest.param(_spec(restart_at="2026-11-26T12:01:00Z"), False, 60.0, id="future-waits-for-it"),
    pytest.param(_spec(), True, None, id="reached"),
    pytest.param(_spec(restart_at="2026-11-26T12:00:00Z"), True, None, id="reached-this-instant"),
    pytest.param(_spec(restarted_at=AT), False, None, id="already-recorded"),
    pytest.param(_spec(restarted_at="2026-11-26T11:00:00+00:00"), False, None, id="recorded-other-spelling"),
    pytest.param(_spec(restarted_at="2026-11-20T00:00:00Z"), True, None, id="an-older-restart-recorded"),
])
def test_due_and_wait(spec: restarting.RestartSpec, due: bool, wait: float | None) -> None:
    assert restarting.due(spec, NOW) is due
    assert restarting.seconds_until(spec, NOW) == wait
    planned = restarting.plan(spec, [STABLE], FOUR_OLD, now=NOW)
    assert (planned.due, planned.requeue_after) == (due, wait)
    if not due:
        assert planned.candidates == () and planned.finish(0) == restarting.Finish(None, wait)


@pytest.mark.parametrize(("spec", "sets", "pods", "candidates", "budget", "outstanding"), [
    pytest.param(_spec(), [STABLE, STABLE], FOUR_OLD, ALL, 1, 4, id="one-replicaset-named-twice-counts-once"),
    pytest.param(_spec(), [STABLE], FOUR_OLD, ALL, 1, 4,
                 id="all-old-one-at-a-time-in-name-order"),
    pytest.param(_spec(), [STABLE], [*FOUR_OLD[1:], _pod("demo-abc-z", NEW, ready=False)],
                 ("demo-abc-a", "demo-abc-b", "demo-abc-c"), 0, 3, id="a-replacement-not-ready-yet-blocks"),
    pytest.param(_spec(replicas=3), [restarting.ReplicaSetRef("uid-stable", 3)],
                 [_pod("equal", RESTART), _pod("newer", NEW), _pod("old")], ("old",), 1, 1,
                 id="created-at-restartAt-counts-as-restarted"),
    pytest.param(_spec(), [STABLE], [_pod("a", NEW), _pod("b", NEW)], (), 0, 0, id="nothing-older"),
    pytest.param(_spec(), [STABLE], [_pod("gone", deleting=True), *FOUR_OLD[:3]],
                 ("demo-abc-b", "demo-abc-c", "demo-abc-d"), 0, 4, id="deleting-counted-never-evicted"),
    pytest.param(_spec(), [STABLE], [_pod("theirs", owner="uid-other"), _pod("mine", NEW)], (), 0, 0,
                 id="pods-of-other-owners-ignored"),
    pytest.param(_spec(), [STABLE], [_pod("no-stamp", None)], ("no-stamp",), 0, 1,
                 id="no-creation-timestamp-is-old"),
    pytest.param(_spec(), [STABLE, CANARY], [*FOUR_OLD, _pod("canary", owner="uid-canary")],
                 ("canary", *ALL), 1, 5,
                 id="mid-update-stable-and-canary-pods"),
    pytest.param(_spec(max_unavailable=2), [STABLE], FOUR_OLD,
                 ALL, 2, 4, id="max-unavailable-2"),
    pytest.param(_spec(max_unavailable=0), [STABLE], FOUR_OLD,
                 ALL, 1, 4, id="max-unavailable-0-is-1"),
    pytest.param(_spec(min_ready_seconds=3600 * 2), [STABLE], FOUR_OLD,
                 ALL, 0, 4, id="ready-but-not-min-ready"),
    pytest.param(_spec(min_ready_seconds=60), [STABLE], FOUR_OLD,
                 ALL, 1, 4, id="min-ready-passed"),
    pytest.param(_spec(replicas=2), [restarting.ReplicaSetRef("uid-stable", 2)], [_pod("a"), _pod("b")],
                 ("a", "b"), 1, 2, id="two-replicas-still-one-at-a-time"),
])
def test_plan(spec: restarting.RestartSpec, sets: list[restarting.ReplicaSetRef],
              pods: list[restarting.PodView], candidates: tuple[str, ...], budget: int,
              outstanding: int) -> None:
    planned = restarting.plan(spec, sets, pods, now=NOW)
    assert planned.due
    assert (planned.candidates, planned.budget, planned.outstanding) == (candidates, budget, outstanding)


def test_the_reconcile_that_sees_a_new_template_restarts_nothing() -> None:
    planned = restarting.plan(_spec(), [STABLE], FOUR_OLD, now=NOW, template_changed=True)
    assert (planned.due, planned.candidates, planned.budget) == (False, (), 0)
    assert planned.finish(0) == restarting.Finish(None, None)


@pytest.mark.parametrize(("outstanding", "evicted", "finish"), [
    pytest.param(0, 0, restarting.Finish(AT, None), id="none-left-records"),
    pytest.param(1, 1, restarting.Finish(AT, None), id="last-one-evicted-records-at-once"),
    pytest.param(3, 1, restarting.Finish(None, 30.0), id="more-left-looks-again-in-30s"),
    pytest.param(2, 0, restarting.Finish(None, 30.0), id="eviction-refused-looks-again"),
])
def test_finish(outstanding: int, evicted: int, finish: restarting.Finish) -> None:
    planned = restarting.RestartPlan(due=True, restart_at=AT, outstanding=outstanding)
    assert planned.finish(evicted) == finish


@pytest.mark.parametrize(("written", "recorded"), [
    pytest.param(AT, AT, id="plugin-form-unchanged"),
    pytest.param("2026-11-26T12:00:00+01:00", AT, id="offset-normalised-to-utc"),
    pytest.param("2026-11-26T10:59:59.5Z", "2026-11-26T10:59:59.5Z", id="fraction-kept-verbatim"),
])
def test_recorded_form(written: str, recorded: str) -> None:
    assert restarting.plan(_spec(restart_at=written), [STABLE], [], now=NOW).restart_at == recorded


def test_pod_view_reads_a_raw_pod() -> None:
    raw = {"metadata": {"name": "p", "creationTimestamp": "2026-11-26T10:00:00Z",
                        "deletionTimestamp": "2026-11-26T12:00:00Z",
                        "ownerReferences": [{"uid": "u1", "controller": True}, {"uid": "u2"}, "junk"]},
           "status": {"conditions": [{"type": "PodScheduled", "status": "True"},
                                     {"type": "Ready", "status": "True",
                                      "lastTransitionTime": "2026-11-26T10:00:05Z"}]}}
    view = restarting.pod_view(raw)
    assert view == restarting.PodView("p", frozenset({"u1", "u2"}), datetime(2026, 11, 26, 10, tzinfo=UTC),
                                      True, datetime(2026, 11, 26, 10, 0, 5, tzinfo=UTC), True)
    assert not view.available(0, NOW)  # being deleted
    bare = restarting.pod_view({"metadata": {"name": "q"}})
    assert (bare.owners, bare.created, bare.ready, bare.deleting) == (frozenset(), None, False, False)
    ref = restarting.replicaset_ref({"metadata": {"uid": "u"}, "spec": {}})
    assert ref == restarting.ReplicaSetRef("u", 1)


@given(replicas=st.integers(1, 12), max_unavailable=st.integers(0, 12),
       pods=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), max_size=16))
def test_evicting_the_budget_keeps_the_floor(replicas: int, max_unavailable: int,
                                             pods: list[tuple[bool, bool, bool]]) -> None:
    views = [_pod(f"p{i:02}", OLD if old else NEW, ready=ready, deleting=deleting)
             for i, (old, ready, deleting) in enumerate(pods)]
    spec = _spec(replicas=replicas, max_unavailable=min(max_unavailable, replicas))
    planned = restarting.plan(spec, [restarting.ReplicaSetRef("uid-stable", replicas)], views, now=NOW)
    floor = replicas - max(spec.max_unavailable, 1)
    assert planned.budget == 0 or planned.available - planned.budget >= floor
    if len(views) <= replicas:  # no surge pods: never more than max(maxUnavailable, 1) at once
        assert planned.budget <= max(spec.max_unavailable, 1)
    assert set(planned.candidates) <= {v.name for v in views if v.created == OLD and not v.deleting}
