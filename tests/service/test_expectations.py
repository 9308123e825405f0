"""Expectations: a write is pending until its cache shows its resourceVersion, then forgotten; a write still
unseen after `within` seconds raises CacheBehind once and is given up; an answer without a version waits for
nothing; keys are independent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from service import expectations, results
from service.kube import watching


@dataclass
class _Resource:
    name: str = "rollouts"


@dataclass
class _Reflector:
    """What expectations read of a reflector: how far its cache got, and its resource's name."""

    seen: int = 0
    resource: _Resource = field(default_factory=_Resource)

    def has_seen(self, resource_version: str) -> bool:
        return self.seen >= int(resource_version)


def _answer(version: str) -> dict[str, Any]:
    return {"metadata": {"name": "web", "resourceVersion": version}}


def test_a_write_is_pending_until_the_cache_shows_it() -> None:
    now = [0.0]
    pending = expectations.Expectations(within=30.0, monotonic=lambda: now[0])
    rollouts, services = _Reflector(seen=5), _Reflector(seen=5, resource=_Resource("services"))
    pending.expect("ns/web", cast(watching.Reflector, rollouts), _answer("7"))
    pending.expect("ns/web", cast(watching.Reflector, services), _answer("6"))
    pending.expect("ns/other", cast(watching.Reflector, rollouts), {"metadata": {}})  # no version: nothing
    assert [p.resource_version for p in pending.unseen("ns/web")] == ["7", "6"]
    assert pending.unseen("ns/other") == [] and len(pending) == 1
    services.seen = 6
    assert [p.resource_version for p in pending.unseen("ns/web")] == ["7"]
    rollouts.seen = 9
    assert pending.unseen("ns/web") == [] and len(pending) == 0


def test_a_write_unseen_for_too_long_raises_cache_behind_once() -> None:
    now = [0.0]
    pending = expectations.Expectations(within=30.0, monotonic=lambda: now[0])
    pending.expect("ns/web", cast(watching.Reflector, _Reflector(seen=1)), _answer("4"))
    now[0] = 30.0
    assert len(pending.unseen("ns/web")) == 1  # not late yet
    now[0] = 30.5
    late = r"the rollouts cache did not show our write \(resourceVersion 4\) within 30s"
    with pytest.raises(results.CacheBehind, match=late):
        pending.unseen("ns/web")
    assert pending.unseen("ns/web") == []  # given up: the retry decides from what the cache shows


def test_forget_drops_a_keys_writes() -> None:
    pending = expectations.Expectations(within=30.0)
    pending.expect("ns/web", cast(watching.Reflector, _Reflector()), _answer("3"))
    pending.forget("ns/web")
    assert pending.unseen("ns/web") == [] and len(pending) == 0
