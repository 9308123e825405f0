"""Decoding API server JSON (service.kube.decoding): the same values as `json.loads`, with keys and short
strings shared between documents (one string object), long strings left alone; `shared` rebuilds an already
decoded value the same way and keeps non-string keys and scalars."""

from __future__ import annotations

import json
from typing import Any

from service.kube import decoding


def _rollout(name: str, message: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": "shop"}},
            "status": {"conditions": [{"type": "Available", "status": "True", "message": message}],
                       "replicas": 2, "ready": True, "weight": None, "ratio": 0.5}}


def test_loads_gives_what_json_gives_with_keys_and_short_strings_shared() -> None:
    long = "x" * (decoding.SHORT + 1)
    first_text, second_text = (json.dumps(_rollout(f"ro-{i}", long + str(i))) for i in (1, 2))
    first, second = decoding.loads(first_text), decoding.loads(second_text.encode())
    assert first == json.loads(first_text) and second == json.loads(second_text)
    key_of = {id(key) for key in first["status"]["conditions"][0]}
    assert key_of == {id(key) for key in second["status"]["conditions"][0]}  # one "type", one "status"
    assert first["metadata"]["labels"]["app"] is second["metadata"]["labels"]["app"]
    assert first["status"]["conditions"][0]["status"] is second["status"]["conditions"][0]["status"]
    assert first["status"]["conditions"][0]["message"] != second["status"]["conditions"][0]["message"]


def test_long_strings_are_not_interned() -> None:
    long = "y" * (decoding.SHORT + 1)
    one, two = decoding.loads(json.dumps({"m": long})), decoding.loads(json.dumps({"m": long}))
    assert one == two and one["m"] is not two["m"]


def test_shared_rebuilds_a_decoded_value_the_same_way() -> None:
    decoded = [json.loads(json.dumps(_rollout(f"ro-{i}", "rolled out"))) for i in (1, 2)]
    rebuilt = [decoding.shared(value) for value in decoded]
    assert rebuilt == decoded
    assert rebuilt[0]["metadata"]["labels"]["app"] is rebuilt[1]["metadata"]["labels"]["app"]
    assert next(iter(rebuilt[0]["metadata"])) is next(iter(rebuilt[1]["metadata"]))
    assert decoding.shared({1: "a", "b": [1.5, None, False]}) == {1: "a", "b": [1.5, None, False]}
