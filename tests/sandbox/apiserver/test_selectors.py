"""Label and field selector parsing and matching, including malformed selectors (400) and map selectors."""

from __future__ import annotations

import pytest

from sandbox.apiserver import selectors
from sandbox.apiserver.errors import ApiError

OBJ = {"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "front"}},
       "spec": {"paused": True, "replicas": 2}}


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param(None, True, id="none"),
    pytest.param("", True, id="empty"),
    pytest.param("app=web", True, id="equals"),
    pytest.param("app==web", True, id="double-equals"),
    pytest.param("app!=web", False, id="not-equals"),
    pytest.param("missing!=x", True, id="not-equals-absent-key"),
    pytest.param("app in (web, api)", True, id="in"),
    pytest.param("app notin (web)", False, id="notin"),
    pytest.param("tier", True, id="exists"),
    pytest.param("!tier", False, id="does-not-exist"),
    pytest.param(" app = web , tier in (front) ", True, id="whitespace-and-and"),
    pytest.param("app=web,tier=back", False, id="all-must-match"),
    pytest.param("example.com/role=x", False, id="prefixed-key"),
])
def test_label_selector(selector, matches):
    assert selectors.label_matcher(selector)(OBJ) is matches


@pytest.mark.parametrize(("selector", "part"), [
    pytest.param("app in web", "app in web", id="set-without-parens"),
    pytest.param("tier, a b", "a b", id="two-words"),
    pytest.param("=x", "=x", id="no-key"),
])
def test_malformed_label_selector_is_400_naming_the_part(selector, part):
    with pytest.raises(ApiError) as err:
        selectors.label_matcher(selector)
    assert (err.value.code, err.value.reason, err.value.message) == (
        400, "BadRequest", f"unable to parse requirement: {part!r}")


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param("metadata.name=a", True, id="name"),
    pytest.param("metadata.namespace==ns", True, id="namespace"),
    pytest.param("metadata.name!=a", False, id="not-equals"),
    pytest.param("spec.paused=true", True, id="bool-as-go-prints-it"),
    pytest.param("spec.replicas=2,metadata.name=a", True, id="and"),
    pytest.param("status.phase=", True, id="absent-field-is-empty"),
])
def test_field_selector(selector, matches):
    assert selectors.field_matcher(selector)(OBJ) is matches


def test_malformed_field_selector_is_400():
    with pytest.raises(ApiError) as err:
        selectors.field_matcher("metadata.name")
    assert err.value.message == "invalid selector: 'metadata.name'; can't understand 'metadata.name'"


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    pytest.param({"app": "web"}, {"app": "web", "x": "y"}, True, id="subset"),
    pytest.param({"app": "web"}, {"app": "api"}, False, id="different"),
    pytest.param({}, {"app": "web"}, False, id="empty-selects-nothing"),
    pytest.param({"app": "web"}, None, False, id="no-labels"),
])
def test_map_selector(selector, labels, matches):
    assert selectors.labels_match_map(selector, labels) is matches
